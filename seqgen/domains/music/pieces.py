"""Music files -> one token array per piece, parsed in parallel and cached on disk.

Parsing scores with music21 is slow (a folk corpus of ~12,700 ABC tunes takes minutes), so every file's
encoded pieces are cached under the seqgen cache folder, keyed by the file (path, size, modification
time), the codec settings and the parser versions: a second run, or a larger `--max-files`, parses only
what is new. Pieces that fail to parse are skipped and reported by name.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqgen.cache import cache_root
from seqgen.codecs.notes import NoteEventCodec
from seqgen.domains.base import FileProgress
from seqgen.domains.music.files import piece_sources, read_source
from seqgen.domains.music.protocol import EventCodec
from seqgen.errors import SeqgenError, reason

CACHE_VERSION = 4  # 2: seconds, note counts, time signatures, pickups; 3: repeat signs; 4: written-out repeats folded
PARALLEL_MIN_BYTES = 200_000  # below this much uncached music, worker start-up costs more than it saves


@dataclass
class PieceSet:
    """Encoded pieces (event tokens without boundary tokens), their names, how long each lasts (seconds from its
    first onset to its last note's end) and how many notes it has, and the skipped ones. Seconds and notes come
    from the piece itself, so bits per second and per note compare across codecs."""

    names: list[str] = field(default_factory=list)
    tokens: list[np.ndarray] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "name: reason"
    seconds: list[float] = field(default_factory=list)
    notes: list[int] = field(default_factory=list)

    def extend(self, other: PieceSet) -> None:
        self.names += other.names
        self.tokens += other.tokens
        self.skipped += other.skipped
        self.seconds += other.seconds
        self.notes += other.notes


def encode_file(path: Path, codec: EventCodec) -> PieceSet:
    """Every piece of one music file as event tokens; failures become named skips, not exceptions."""
    out = PieceSet()
    try:
        sources = piece_sources(path)
    except SeqgenError as e:
        out.skipped.append(str(e))
        return out
    for src in sources:
        try:
            pieces = read_source(src)
        except SeqgenError as e:
            out.skipped.append(str(e))
            continue
        for name, pm in pieces:
            try:
                ids = codec.encode(pm)
            except (ValueError, RuntimeError) as e:  # what the tokenizer cannot represent
                out.skipped.append(f"{name}: cannot be encoded ({reason(e)})")
                continue
            if ids:
                # pitched notes (a drums-only piece: its hits), what bits per note counts
                notes = [n for inst in pm.instruments if not inst.is_drum for n in inst.notes] or \
                    [n for inst in pm.instruments for n in inst.notes]
                out.names.append(name)
                out.tokens.append(np.asarray(ids, dtype=codec.token_dtype))
                out.seconds.append(max(n.end for n in notes) - min(n.start for n in notes))
                out.notes.append(len(notes))
            else:
                out.skipped.append(f"{name}: no notes")
    return out


def _cache_file(path: Path, codec: EventCodec) -> Path:
    import music21

    from seqgen.midi import pretty_midi

    st = path.stat()
    key = json.dumps([CACHE_VERSION, str(path.resolve()), st.st_size, st.st_mtime_ns, codec.to_dict(),
                      music21.__version__, pretty_midi.__version__], sort_keys=True)
    return cache_root() / NoteEventCodec.domain / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"


def _read_cache(cache: Path) -> PieceSet | None:
    try:
        with np.load(cache, allow_pickle=False) as z:
            flat, lengths = z["tokens"], z["lengths"]
            names, skipped = z["names"].tolist(), z["skipped"].tolist()
            seconds, notes = z["seconds"].tolist(), z["notes"].tolist()
    except (OSError, KeyError, ValueError):
        return None
    return PieceSet(list(names), list(np.split(flat, np.cumsum(lengths)[:-1])) if len(lengths) else [],
                    list(skipped), seconds, notes)


def _write_cache(cache: Path, pieces: PieceSet) -> None:
    """Best effort: an unwritable cache folder only costs the next run a re-parse."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, tokens=np.concatenate(pieces.tokens) if pieces.tokens else np.zeros(0, np.uint16),
                     lengths=np.array([len(t) for t in pieces.tokens], dtype=np.int64),
                     names=np.array(pieces.names, dtype=str), skipped=np.array(pieces.skipped, dtype=str),
                     seconds=np.array(pieces.seconds, dtype=np.float64), notes=np.array(pieces.notes, dtype=np.int64))
        os.replace(tmp, cache)
    except OSError:
        return


def _encode_and_cache(path: Path, codec: EventCodec) -> PieceSet:
    pieces = encode_file(path, codec)
    _write_cache(_cache_file(path, codec), pieces)
    return pieces


def encode_files(paths: Sequence[Path], codec: EventCodec, progress: FileProgress | None = None,
                 workers: int | None = None) -> PieceSet:
    """All pieces of `paths`, in file order: cached files are read back, the rest parsed (in parallel
    worker processes when there is enough of it) and cached."""
    report = progress or (lambda done, total: None)
    results: dict[int, PieceSet] = {}
    todo: list[int] = []
    for i, path in enumerate(paths):
        cached = _read_cache(_cache_file(path, codec))
        if cached is None:
            todo.append(i)
        else:
            results[i] = cached
    report(len(results), len(paths))

    def finished(i: int, pieces: PieceSet) -> None:
        results[i] = pieces
        report(len(results), len(paths))

    workers = workers or os.cpu_count() or 1
    if workers > 1 and len(todo) > 1 and sum(paths[i].stat().st_size for i in todo) >= PARALLEL_MIN_BYTES:
        todo.sort(key=lambda i: -paths[i].stat().st_size)  # largest first keeps the workers evenly busy
        _encode_in_workers(paths, todo, codec, min(workers, len(todo)), finished)
    for i in todo:
        if i not in results:  # serial parsing, or what the workers could not do
            finished(i, _encode_and_cache(paths[i], codec))
    out = PieceSet()
    for i in range(len(paths)):
        out.extend(results[i])
    return out


def _end_with_parent(parent: int) -> None:
    """Worker initializer (Linux): the kernel ends this worker when the process that started it ends, however it
    ends. A `seqgen train` stopped by SIGTERM or SIGKILL while parsing would otherwise leave its workers behind,
    waiting for work that never comes (cache files are written atomically, so none is left half-written)."""
    import ctypes

    pr_set_pdeathsig = 1  # prctl option: the signal this process gets when its parent ends
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the line above took effect
        os._exit(1)


def _encode_in_workers(paths: Sequence[Path], todo: list[int], codec: EventCodec, workers: int,
                       finished: Callable[[int, PieceSet], None]) -> None:
    """Parse files in worker processes. On Linux they fork (children never touch torch, as with PyTorch's
    DataLoader workers), which also spares a user's script without a `__main__` guard from being re-run;
    elsewhere they spawn, and if that breaks the pool, the files left are parsed in this process."""
    method = "fork" if sys.platform == "linux" else "spawn"
    tied = {"initializer": _end_with_parent, "initargs": (os.getpid(),)} if sys.platform == "linux" else {}
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method), **tied) as pool:
        futures = {pool.submit(_encode_and_cache, paths[i], codec): i for i in todo}
        try:
            for future in as_completed(futures):
                finished(futures[future], future.result())
        except BrokenProcessPool:
            return
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
