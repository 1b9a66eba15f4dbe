"""The folder a new training run writes into: refusing an --out that must not be written (a file, someone's
folder, the working folder itself), marking the folder as a seqgen run's, and keeping the run's checkpoint only
once it exists.

With --overwrite the new run writes beside the old checkpoint (".NAME.new") and replaces it only when it has a
checkpoint of its own; a run that ends without any checkpoint leaves nothing behind. Under torchrun only rank 0
touches the folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seqgen import checkpoint
from seqgen.errors import SeqgenError


@contextmanager
def writing(folder: Path, overwrite: bool, main: bool = True) -> Iterator[Path]:
    """The folder to train into (`folder`, or its replacement beside it); on leaving, its checkpoint is kept in
    `folder`, or it is removed when it holds none. `main`: whether this process is the one that touches folders."""
    work = folder.resolve().with_name(f".{folder.resolve().name}.new") if overwrite and folder.exists() else folder
    if main:
        _make(work, folder)
    try:
        yield work
    finally:
        kept = _settle(work, folder) if main else True
    if not kept:
        raise SeqgenError("interrupted before the first checkpoint was saved; nothing was kept")


def check_new(folder: Path, overwrite: bool) -> None:
    """Refuse an --out that a new run must not write into: a file, a folder with files in it (unless --overwrite
    replaces it), and with --overwrite any folder seqgen did not make for a run, or one holding the working folder;
    a refusal touches nothing."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise SeqgenError(f"{folder}: is a file; --out names the checkpoint folder to create")
    if not any(folder.iterdir()):
        return
    if not overwrite:
        raise SeqgenError(f"{folder}: already exists and is not empty; choose another --out, "
                          "continue it with --resume, or replace it with --overwrite")
    if not checkpoint.is_run_folder(folder):
        raise SeqgenError(f"{folder}: not a seqgen checkpoint; --overwrite replaces only checkpoint folders, so "
                          "nothing in it was touched; choose another --out")
    here = Path.cwd().resolve()
    if folder.resolve() in (here, *here.parents):
        raise SeqgenError(f"{folder}: holds the current working folder, which --overwrite cannot replace; "
                          "run from another folder")


def _make(work: Path, folder: Path) -> None:
    """Create the (empty) folder a new run writes into, `folder` itself or its replacement beside it, and mark it
    as a seqgen run's."""
    if work != folder and work.exists():
        shutil.rmtree(work)
    existed = work.exists()
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SeqgenError(f"{folder}: cannot create the checkpoint folder ({e.strerror})") from None
    try:
        checkpoint.mark_run(work)
    except SeqgenError:
        if not existed:
            shutil.rmtree(work, ignore_errors=True)
        raise


def _settle(work: Path, folder: Path) -> bool:
    """After a run, however it ended: keep its checkpoint in `folder` (replacing an old one), or remove
    the work folder when it holds none. Returns whether a checkpoint was kept."""
    if not checkpoint.is_checkpoint(work):
        shutil.rmtree(work)
        return False
    if work != folder:
        shutil.rmtree(folder)
        work.rename(folder)
    return True
