"""Shared test set-up: a headless matplotlib and the R reference numbers."""

import json
import os
from pathlib import Path

# Before anything imports matplotlib: tests must not need a display.
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

REFERENCE_DIR = Path(__file__).parent / "reference"


def _load_reference(name: str) -> dict:
    # Parsed afresh on each call (the files are small) so no test can alter another's copy.
    path = REFERENCE_DIR / (name if name.endswith(".json") else f"{name}.json")
    if not path.is_file():
        known = sorted(p.stem for p in REFERENCE_DIR.glob("*.json"))
        raise FileNotFoundError(f"no reference file {path.name}; known: {', '.join(known)}")
    with path.open() as fh:
        return json.load(fh)


@pytest.fixture
def reference():
    """Loader of tests/reference/<name>.json (what R reports), e.g. ``reference("cbpp")``."""
    return _load_reference
