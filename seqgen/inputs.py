"""DATA arguments (corpus names, files, folders, globs) -> a codec and training/validation token streams.

The domain follows from the data: built-in corpora say theirs; otherwise the files a domain claims by their
names (music, waveforms, ...) make it that domain, and plain files are text. How the files become token
streams is the domain's business (see seqgen.domains); here DATA is sorted out and the options checked.
"""

from __future__ import annotations

import glob
import random
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from seqgen import domains
from seqgen.codecs import Codec
from seqgen.corpora import Corpus
from seqgen.data import resolve_paths
from seqgen.domains.base import FileProgress, Inputs, ReadSettings, TrainingData
from seqgen.errors import SeqgenError


def split_corpora(data: Sequence[str | Path]) -> tuple[list[Corpus], list[str | Path]]:
    """The built-in corpora DATA names (a file or folder of the same name wins), and its other items."""
    corpora: list[Corpus] = []
    paths: list[str | Path] = []
    for item in data:
        corpus = domains.get_corpus(str(item))
        if corpus is not None and not Path(str(item)).exists():
            corpora.append(corpus)
        else:
            paths.append(item)
    return corpora, paths


def resolve(data: Sequence[str | Path], max_files: int | None = None) -> Inputs:
    """Sort DATA into built-in corpora and files, and decide the domain; mixing domains fails. Files no domain
    claims are left out beside claimed ones, and are text on their own."""
    corpora, paths = split_corpora(data)
    files = resolve_paths(paths) if paths else []
    claimed: dict[str, list[Path]] = {}
    for f in files:
        home = domains.domain_for(f)
        if home is not domains.FALLBACK:
            claimed.setdefault(home.name, []).append(f)
    if len(claimed) > 1:
        raise SeqgenError(f"{', '.join(map(str, data))}: mixes {_plurals(claimed)}; "
                          "train a model on each separately")
    found = next(iter(claimed), domains.FALLBACK.name)
    names = {c.domain for c in corpora} | ({found} if files else set())
    if len(names) > 1:
        raise SeqgenError(f"{', '.join(map(str, data))}: mixes {_plurals(names)}; train a model on each separately")
    domain = names.pop()
    chosen = claimed.get(found, [])
    ignored = [f for f in files if f not in chosen] if chosen else []
    files = chosen or files
    if max_files is not None and max_files < len(files):
        files = sorted(random.Random(0).sample(files, max_files))
    searched = any(Path(str(p)).is_dir() or glob.has_magic(str(p)) for p in paths)
    return Inputs(domain, corpora, files, ignored, searched)


def _plurals(names: Sequence[str] | set[str] | dict[str, Any]) -> str:
    return " and ".join(domains.get(n).plural for n in sorted(names))


def prepare(data: Sequence[str | Path], val_fraction: float, codec: Codec | None = None, *,
            boundaries: bool = False, codec_options: dict[str, Any] | None = None, transpose: int = 0,
            seed: int = 0, max_files: int | None = None, on_files: FileProgress | None = None,
            read_options: dict[str, Any] | None = None, val: Sequence[str | Path] | None = None,
            found: Inputs | None = None, grow_vocabulary: bool = False) -> TrainingData:
    """Read DATA and make its token streams. Without `codec`, a new one is fitted or built for the domain from
    `codec_options` (checked by seqgen.config.resolve); with one (a resume), the data must be of its domain.
    Validation is the tail `val_fraction` of DATA, or with `val` all of that other data, read with the same codec.
    `found`: DATA as `resolve(data, max_files)` already sorted it, so the folders are not searched twice.
    `grow_vocabulary` (a fine-tune): a text codec gains the characters of DATA it lacks, appended after its own."""
    inputs = found or resolve(data, max_files)
    home = domains.get(inputs.domain)
    if codec is not None and codec.domain != inputs.domain:
        raise SeqgenError(f"{', '.join(map(str, data))}: is {inputs.domain}, but the model reads {codec.domain}")
    for flag, given in (("sentences", boundaries), ("transpose", transpose)):
        if given and flag not in home.data_flags:
            raise SeqgenError(f"--{flag} is for {domains.owners(flag)}; this data is {inputs.domain}")
    settings = ReadSettings(0.0 if val else val_fraction, boundaries, transpose, seed, max_files, on_files,
                            codec_options or {}, read_options or {}, grow_vocabulary)
    out = home.read_data(inputs, codec, settings)
    out.summary = {"inputs": _recorded(data), **({"max_files": max_files} if max_files is not None else {}),
                   **out.summary}
    if val:
        out.val, held = _validation(val, out.codec, settings)
        out.summary.update(val_inputs=_recorded(val), val_tokens=int(len(out.val)), **held)
    if inputs.ignored:
        shown = ", ".join(p.name for p in inputs.ignored[:3]) + (", ..." if len(inputs.ignored) > 3 else "")
        out.notes.insert(0, f"ignored {len(inputs.ignored)} file(s) that are not {inputs.domain} ({shown}); "
                            f"{inputs.domain} files end in {', '.join(home.suffixes)}")
    return out


def _validation(val: Sequence[str | Path], codec: Codec, settings: ReadSettings) -> tuple[np.ndarray, dict[str, Any]]:
    """The `--val` data as one validation stream in the training codec (all of it: no tail is held out, no piece
    transposed), and what the summary says of it."""
    inputs = resolve(val)
    label = ", ".join(map(str, val))
    if inputs.domain != codec.domain:
        raise SeqgenError(f"--val {label}: is {inputs.domain}, but the training data is {codec.domain}")
    try:
        read = domains.get(inputs.domain).read_data(inputs, codec, replace(settings, val_fraction=0.0, transpose=0,
                                                                           max_files=None, on_files=None))
    except SeqgenError as e:
        raise SeqgenError(f"--val {label}: {e}") from None
    stream = read.train(0) if callable(read.train) else read.train  # pieces in their (seeded) order
    return np.asarray(stream), {"val_documents": read.summary.get("documents")}


def _recorded(data: Sequence[str | Path]) -> list[str]:
    """DATA as the checkpoint records it: paths made absolute, corpus names as they are."""
    return [str(Path(str(d)).resolve()) if Path(str(d)).exists() else str(d) for d in data]


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")
