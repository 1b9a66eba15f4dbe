"""DATA arguments (corpus names, files, folders, globs) -> a codec and training/validation token streams.

The domain follows from the data: built-in corpora say theirs; otherwise any music file (.mid, .abc,
.musicxml, ...) makes it music, and plain files are text. Text documents are joined into one character
stream whose tail validates. Music pieces stay whole: a fixed random tenth of them validates, and the
training pieces are laid out afresh every epoch (new order; with `transpose`, a random key per piece).
"""

from __future__ import annotations

import glob
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqgen import token_cache
from seqgen.codecs import CharCodec, Codec, MuLawCodec, NoteEventCodec
from seqgen.corpora import Corpus, get_corpus
from seqgen.data import Document, read_text_documents, resolve_paths, split_stream, to_array
from seqgen.errors import SeqgenError
from seqgen.music import MUSIC_SUFFIXES, is_music_file
from seqgen.pieces import FileProgress, PieceSet, encode_files
from seqgen.signals import AUDIO_SUFFIXES, WAVEFORM_SUFFIXES, Recording, is_waveform_file, read_recording

AUDIO_RATE = 16000  # default model rate for audio: speech and most music keep their character at 16 kHz
TokenStream = np.ndarray | Callable[[int], np.ndarray]  # one fixed stream, or the stream of a given epoch
CODEC_OPTIONS = {"music": ("step_ms", "max_shift_ms", "velocity_bins", "drums", "program"),
                 "waveform": ("rate", "bits")}
READ_OPTIONS = ("sample_rate", "channel", "column", "gaps")  # how waveform files are read


@dataclass
class TrainingData:
    """What the trainer needs: the codec, training and validation tokens, a summary for the checkpoint."""

    codec: Codec
    train: TokenStream
    val: np.ndarray
    summary: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # things the user should hear about (skipped pieces)


@dataclass
class Inputs:
    """DATA sorted out: the corpora named, the files found, and the domain they make up."""

    domain: str
    corpora: list[Corpus]
    files: list[Path]
    ignored: list[Path]
    searched: bool = False  # whether files were found in folders or by glob patterns (not named one by one)


def split_corpora(data: Sequence[str | Path]) -> tuple[list[Corpus], list[str | Path]]:
    """The built-in corpora DATA names (a file or folder of the same name wins), and its other items."""
    corpora: list[Corpus] = []
    paths: list[str | Path] = []
    for item in data:
        corpus = get_corpus(str(item))
        if corpus is not None and not Path(str(item)).exists():
            corpora.append(corpus)
        else:
            paths.append(item)
    return corpora, paths


def resolve(data: Sequence[str | Path], max_files: int | None = None) -> Inputs:
    """Sort DATA into built-in corpora and files, and decide the domain; mixing text and music fails."""
    corpora, paths = split_corpora(data)
    files = resolve_paths(paths) if paths else []
    music = [f for f in files if is_music_file(f)]
    waves = [f for f in files if is_waveform_file(f)]
    if music and waves:
        raise SeqgenError(f"{', '.join(map(str, data))}: mixes music and waveforms; train a model on each separately")
    found = "music" if music else "waveform" if waves else "text"
    domains = {c.domain for c in corpora} | ({found} if files else set())
    if len(domains) > 1:
        raise SeqgenError(f"{', '.join(map(str, data))}: mixes {' and '.join(sorted(domains))}; "
                          "train a model on each separately")
    domain = domains.pop()
    chosen = music or waves
    ignored = [f for f in files if f not in chosen] if chosen else []
    files = chosen or files
    if max_files is not None and max_files < len(files):
        files = sorted(random.Random(0).sample(files, max_files))
    searched = any(Path(str(p)).is_dir() or glob.has_magic(str(p)) for p in paths)
    return Inputs(domain, corpora, files, ignored, searched)


def prepare(data: Sequence[str | Path], val_fraction: float, codec: Codec | None = None, *,
            boundaries: bool = False, codec_options: dict[str, Any] | None = None, transpose: int = 0,
            seed: int = 0, max_files: int | None = None, on_files: FileProgress | None = None,
            read_options: dict[str, Any] | None = None) -> TrainingData:
    """Read DATA and make its token streams. Without `codec`, a new one is fitted or built for the domain
    (`codec_options` for music: step_ms, velocity_bins, drums, ...); with one (a resume), it must match."""
    inputs = resolve(data, max_files)
    if codec is not None and codec.domain != inputs.domain:
        raise SeqgenError(f"{', '.join(map(str, data))}: is {inputs.domain}, but the model reads {codec.domain}")
    if inputs.domain != "text" and boundaries:
        raise SeqgenError(f"--sentences is for text; this data is {inputs.domain}")
    if inputs.domain != "music" and transpose:
        raise SeqgenError(f"--transpose is for music; this data is {inputs.domain}")
    wrong = set(codec_options or {}) - set(CODEC_OPTIONS.get(inputs.domain, ()))
    if wrong:
        raise SeqgenError(f"{', '.join('--' + k.replace('_', '-') for k in sorted(wrong))}: "
                          f"not an option for {inputs.domain} data")
    if read_options and inputs.domain != "waveform":
        raise SeqgenError(f"{', '.join('--' + k.replace('_', '-') for k in sorted(read_options))}: "
                          f"for waveform files; this data is {inputs.domain}")
    if inputs.domain == "music":
        codec = codec or NoteEventCodec(**(codec_options or {}))
        out = _music(inputs, codec, val_fraction, transpose, seed, max_files, on_files)
    elif inputs.domain == "waveform":
        out = _waveform(inputs, codec, val_fraction, codec_options or {}, read_options or {})
    else:
        out = _text(inputs, codec, val_fraction, boundaries, max_files)
    out.summary = {"inputs": [str(Path(str(d)).resolve()) if Path(str(d)).exists() else str(d) for d in data],
                   **({"max_files": max_files} if max_files is not None else {}), **out.summary}
    if inputs.ignored:
        shown = ", ".join(p.name for p in inputs.ignored[:3]) + (", ..." if len(inputs.ignored) > 3 else "")
        suffixes = MUSIC_SUFFIXES if inputs.domain == "music" else WAVEFORM_SUFFIXES
        out.notes.insert(0, f"ignored {len(inputs.ignored)} file(s) that are not {inputs.domain} ({shown}); "
                            f"{inputs.domain} files end in {', '.join(suffixes)}")
    return out


def _text(inputs: Inputs, codec: Codec | None, val_fraction: float, boundaries: bool,
          max_files: int | None) -> TrainingData:
    big = not inputs.corpora and sum(f.stat().st_size for f in inputs.files) >= token_cache.MMAP_MIN_BYTES
    key = token_cache.corpus_key(inputs.files, {"boundaries": boundaries, "codec": codec and codec.to_dict()})
    cached = token_cache.load(key) if big else None
    if cached is not None:
        meta, tokens = cached
        return _text_data(codec or CharCodec.from_dict(meta["codec"]), tokens, meta["documents"], val_fraction,
                          [f"text tokens memory-mapped from the cache ({len(tokens):,} tokens, encoded before)"])
    docs: list[Document] = [d for c in inputs.corpora for d in c.documents(max_files)]
    if inputs.files:
        try:
            docs += read_text_documents(inputs.files)
        except SeqgenError as e:
            if not inputs.searched or "not UTF-8" not in str(e):
                raise
            # neither music nor text: say both, so a folder of the wrong files is not mistaken for bad text
            raise SeqgenError(f"no music files ({' '.join(MUSIC_SUFFIXES)}) found, and {e}") from None
    codec = codec or CharCodec.fit((d.text for d in docs), boundaries=boundaries)
    tokens = to_array(codec.encode_corpus([d.text for d in docs]), codec.vocab_size)
    if not big:
        return _text_data(codec, tokens, len(docs), val_fraction, [])
    tokens = token_cache.store(key, {"codec": codec.to_dict(), "documents": len(docs)}, tokens)
    mapped = isinstance(tokens, np.memmap)
    return _text_data(codec, tokens, len(docs), val_fraction,
                      [f"text tokens memory-mapped ({len(tokens):,} tokens)"] if mapped else [])


def _text_data(codec: Codec, tokens: np.ndarray, documents: int, val_fraction: float,
               notes: list[str]) -> TrainingData:
    train, val = split_stream(tokens, val_fraction)
    if len(train) < 2:
        raise SeqgenError(f"too little text to train on ({len(tokens)} tokens)")
    return TrainingData(codec, train, val, {"documents": documents, "tokens": int(len(tokens)),
                                            "train_tokens": int(len(train)), "val_tokens": int(len(val))}, notes)


def _music(inputs: Inputs, codec: NoteEventCodec, val_fraction: float, transpose: int, seed: int,
           max_files: int | None, on_files: FileProgress | None) -> TrainingData:
    files = [f for c in inputs.corpora for f in c.files(max_files)] + inputs.files
    pieces = encode_files(files, codec, on_files)
    if not pieces.tokens:
        why = f"; e.g. {pieces.skipped[0]}" if pieces.skipped else ""
        raise SeqgenError(f"no usable music in {len(files)} file(s): {len(pieces.skipped)} piece(s) failed to "
                          f"parse or had no notes{why}")
    order = list(range(len(pieces.tokens)))
    random.Random(0).shuffle(order)  # a fixed validation set, spread over the whole collection
    n_val = min(len(order) - 1, max(1, round(len(order) * val_fraction))) if val_fraction > 0 else 0
    train_idx, val_idx = order[: len(order) - n_val], order[len(order) - n_val :]
    docs = [_document(codec, t) for t in pieces.tokens]
    if n_val == 0 and val_fraction > 0:  # a single piece: its tail validates
        train_part, val = split_stream(docs[0], val_fraction)
        train: TokenStream = train_part
    else:
        val = np.concatenate([docs[i] for i in val_idx]) if val_idx else np.zeros(0, codec.token_dtype)
        train = PieceStream([docs[i] for i in train_idx], codec, transpose, seed)
    n_train = len(train)
    if n_train < 2:
        raise SeqgenError("too little music to train on")
    seconds = float(sum(codec.seconds(t) for t in pieces.tokens))
    if isinstance(train, PieceStream):
        low, high = train.pitch_range
    else:
        low, high = codec.pitch_span(train) or (0, 127)
    summary = {"documents": len(pieces.tokens), "skipped": len(pieces.skipped),
               "skipped_examples": pieces.skipped[:20], "hours": round(seconds / 3600, 2),
               "tokens": int(sum(len(d) for d in docs)), "train_tokens": int(n_train), "val_tokens": int(len(val)),
               "val_pieces": len(val_idx), "transpose": transpose, "pitch_range": [int(low), int(high)]}
    return TrainingData(codec, train, val, summary, _skip_notes(pieces))


def _waveform(inputs: Inputs, codec: MuLawCodec | None, val_fraction: float, codec_options: dict[str, Any],
              read_options: dict[str, Any]) -> TrainingData:
    """Recordings resampled to one rate and μ-law coded: the last tenth of every recording validates (a signal's
    character drifts along it, so each recording gives both), the rest is one TBPTT stream of whole recordings."""
    recordings = [read_recording(f, **read_options) for f in inputs.files]
    notes = [f"{r.name}: {n}" for r in recordings for n in r.notes]
    if codec is None:
        audio = all(Path(r.name).suffix.lower() in AUDIO_SUFFIXES for r in recordings)
        native = min(int(round(r.sample_rate)) for r in recordings)
        rate = codec_options.get("rate") or (min(native, AUDIO_RATE) if audio else native)
        scale = 1.0 if audio else MuLawCodec.fit_scale([r.samples for r in recordings])
        codec = MuLawCodec(sample_rate=int(rate), scale=scale, bits=codec_options.get("bits") or 8)
    streams = [_coded(codec, r) for r in recordings]
    train_parts, val_parts = [], []
    for ids in streams:
        head, tail = split_stream(ids, val_fraction)
        train_parts.append(head)
        if len(tail):
            val_parts.append(np.concatenate([codec.start_ids, tail]).astype(codec.token_dtype))
    train = np.concatenate(train_parts).astype(codec.token_dtype)
    val = np.concatenate(val_parts) if val_parts else np.zeros(0, codec.token_dtype)
    if len(train) < 2:
        raise SeqgenError("too little signal to train on")
    seconds = sum(len(r.samples) / r.sample_rate for r in recordings)
    summary = {"documents": len(recordings), "hours": round(seconds / 3600, 3), "tokens": int(len(train) + len(val)),
               "train_tokens": int(len(train)), "val_tokens": int(len(val)), "read_options": read_options}
    return TrainingData(codec, train, val, summary, notes)


def _coded(codec: MuLawCodec, recording: Recording) -> np.ndarray:
    """`<start>` and the μ-law levels of a recording at the codec's rate."""
    samples = codec.resample(recording.samples, int(round(recording.sample_rate)))
    return np.asarray(codec.encode_document(samples), dtype=codec.token_dtype)


def _document(codec: NoteEventCodec, tokens: np.ndarray) -> np.ndarray:
    dtype = codec.token_dtype
    return np.concatenate([np.asarray(codec.start_ids, dtype), tokens, np.asarray(codec.end_ids, dtype)])


def _skip_notes(pieces: PieceSet, shown: int = 5) -> list[str]:
    notes = [f"skipped {s}" for s in pieces.skipped[:shown]]
    if len(pieces.skipped) > shown:
        notes.append(f"... and {len(pieces.skipped) - shown} more skipped piece(s) "
                     f"({len(pieces.tokens)} usable); `seqgen info` lists the first 20")
    return notes


class PieceStream:
    """The training pieces as one stream for a given epoch: a fresh order every epoch and, with
    `transpose` K, each piece moved by a random interval in [-K, K] that keeps its notes in MIDI range.
    Seeded by (seed, epoch), so a resumed run sees exactly the streams an unbroken one would."""

    def __init__(self, docs: list[np.ndarray], codec: NoteEventCodec, transpose: int, seed: int):
        self.docs, self.codec, self.transpose, self.seed = docs, codec, transpose, seed
        self.n_tokens = sum(len(d) for d in docs)
        spans = [codec.pitch_span(d) or (60, 60) for d in docs]
        self.low = np.array([max(-transpose, -lo) for lo, _ in spans])
        self.high = np.array([min(transpose, 127 - hi) for _, hi in spans])
        # every pitch a training stream can hold, transposition included
        self.pitch_range = (max(0, min(lo for lo, _ in spans) - transpose),
                            min(127, max(hi for _, hi in spans) + transpose))

    def __len__(self) -> int:
        return self.n_tokens

    def __call__(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.docs))
        shifts = rng.integers(self.low, self.high + 1) if self.transpose else np.zeros(len(self.docs), int)
        parts = [self.codec.transpose(self.docs[i], int(shifts[i])) if shifts[i] else self.docs[i] for i in order]
        return np.concatenate(parts).astype(self.codec.token_dtype)
