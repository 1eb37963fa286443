"""Where the real test data lives (../shared/data, never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def shared_data() -> Path:
    """The shared-data root; a missing folder fails the test that needs it (it is present in CI)."""
    root = Path(os.environ.get("OMNI311_SHARED_DATA", REPO.parent / "shared" / "data"))
    assert root.is_dir(), f"shared test data not found at {root} (set OMNI311_SHARED_DATA)"
    return root
