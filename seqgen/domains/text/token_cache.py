"""Large text corpora as memory-mapped token files: encoded once, then read from disk by the page cache.

Training on 100 MB+ of text would otherwise hold the text and its tokens in memory for the whole run.
Above MMAP_MIN_BYTES of input the token stream is written under the seqgen cache folder, keyed by the
files (path, size, modification time), the codec settings and the vocabulary, and opened with
`np.load(mmap_mode="r")`; a later run on the same files skips reading and encoding them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqgen.cache import cache_root

MMAP_MIN_BYTES = 32 << 20


def corpus_key(files: Sequence[Path], settings: dict[str, Any]) -> str:
    """Identity of a set of input files read with given codec settings."""
    stats = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return hashlib.sha256(json.dumps([stats, settings], sort_keys=True).encode()).hexdigest()[:32]


def _paths(key: str) -> tuple[Path, Path]:
    folder = cache_root() / "text"
    return folder / f"{key}.npy", folder / f"{key}.json"


def load(key: str) -> tuple[dict[str, Any], np.ndarray] | None:
    """The cached codec description and memory-mapped tokens of `key`, or None."""
    tokens_file, meta_file = _paths(key)
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        tokens = np.load(tokens_file, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    return (meta, tokens) if len(tokens) == meta.get("tokens") else None


def store(key: str, meta: dict[str, Any], tokens: np.ndarray) -> np.ndarray:
    """Write tokens (atomically) and return them memory-mapped; an unwritable cache returns them as they are."""
    tokens_file, meta_file = _paths(key)
    try:
        tokens_file.parent.mkdir(parents=True, exist_ok=True)
        for target, write in ((tokens_file, lambda f: np.save(f, tokens, allow_pickle=False)),
                              (meta_file, lambda f: f.write(json.dumps({**meta, "tokens": len(tokens)}).encode()))):
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                write(f)
            os.replace(tmp, target)
    except OSError:
        return tokens
    return np.load(tokens_file, mmap_mode="r", allow_pickle=False)
