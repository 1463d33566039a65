"""Fit objects, tables, summaries and predictions."""
