"""The one engine: blocks in, (restricted) marginal likelihoods and modes out."""
