"""DATA arguments (corpus names, files, folders, globs) -> a codec and training/validation token streams.

The domain follows from the data: built-in corpora say theirs; otherwise the files a domain claims by their
names (music, waveforms, ...) make it that domain, and plain files are text. How the files become token
streams is the domain's business (see seqgen.domains); here DATA is sorted out and the options checked.
"""

from __future__ import annotations

import glob
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
            read_options: dict[str, Any] | None = None) -> TrainingData:
    """Read DATA and make its token streams. Without `codec`, a new one is fitted or built for the domain
    (`codec_options` for music: step_ms, velocity_bins, drums, ...); with one (a resume), it must match."""
    inputs = resolve(data, max_files)
    home = domains.get(inputs.domain)
    if codec is not None and codec.domain != inputs.domain:
        raise SeqgenError(f"{', '.join(map(str, data))}: is {inputs.domain}, but the model reads {codec.domain}")
    for flag, given in (("sentences", boundaries), ("transpose", transpose)):
        if given and flag not in home.data_flags:
            raise SeqgenError(f"--{flag} is for {domains.owners('data_flags', flag)}; this data is {inputs.domain}")
    wrong = set(codec_options or {}) - set(home.codec_options)
    if wrong:
        raise SeqgenError(f"{', '.join(_flag(k) for k in sorted(wrong))}: not an option for {inputs.domain} data")
    wrong = set(read_options or {}) - set(home.read_options)
    if wrong:
        owner = domains.owners("read_options", sorted(wrong)[0])
        raise SeqgenError(f"{', '.join(_flag(k) for k in sorted(read_options or {}))}: "
                          f"for {owner} files; this data is {inputs.domain}")
    settings = ReadSettings(val_fraction, boundaries, transpose, seed, max_files, on_files, codec_options or {},
                            read_options or {})
    out = home.read_data(inputs, codec, settings)
    out.summary = {"inputs": [str(Path(str(d)).resolve()) if Path(str(d)).exists() else str(d) for d in data],
                   **({"max_files": max_files} if max_files is not None else {}), **out.summary}
    if inputs.ignored:
        shown = ", ".join(p.name for p in inputs.ignored[:3]) + (", ..." if len(inputs.ignored) > 3 else "")
        out.notes.insert(0, f"ignored {len(inputs.ignored)} file(s) that are not {inputs.domain} ({shown}); "
                            f"{inputs.domain} files end in {', '.join(home.suffixes)}")
    return out


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")
