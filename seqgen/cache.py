"""Where seqgen keeps what it can compute again (parsed music, memory-mapped text tokens): one folder per user."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$SEQGEN_CACHE, else $XDG_CACHE_HOME/seqgen, else ~/.cache/seqgen."""
    if os.environ.get("SEQGEN_CACHE"):
        return Path(os.environ["SEQGEN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "seqgen"
