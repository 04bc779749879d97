"""Test helpers: the shared real-data folder (skipped cleanly when it is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings


def data_file(name: str) -> Path:
    """Path of a file in PEREGRINE_DATA_DIR; skip the test when the folder or file is absent."""
    path = Path(settings.PEREGRINE_DATA_DIR) / name
    if not path.is_file():
        pytest.skip(f"real market data not available: {path}")
    return path
