"""Music DATA -> token streams: whole pieces; a fixed random tenth of them validates, and the training pieces are
laid out afresh every epoch (new order; with `transpose`, a random key per piece)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqgen.codecs import NoteEventCodec
from seqgen.data import split_stream
from seqgen.domains.base import Inputs, ReadSettings, TokenStream, TrainingData
from seqgen.domains.music.files import MIDI_SUFFIXES, read_midi
from seqgen.domains.music.metrical import MetricalCodec
from seqgen.domains.music.musicality import grid_share, piece_of
from seqgen.domains.music.pieces import PieceSet, encode_files
from seqgen.domains.music.protocol import EventCodec
from seqgen.errors import SeqgenError

CODECS = ("auto", "remi", "performance")
PERFORMANCE_SETTINGS = ("step_ms", "max_shift_ms", "velocity_bins", "drums")
GRID_SHARE = 0.9  # real folk tunes written as MIDI: 0.99 (benchmarks/musicality.py); below this, a performance

def read_music_data(inputs: Inputs, codec: EventCodec | None, settings: ReadSettings) -> TrainingData:
    """Every piece of the corpora and files, encoded (without `codec`, by a new one the codec options choose:
    see `music_codec`), with the summary `info` and sampling use: hours, skipped pieces, the pitch range trained
    on, and which codec `auto` chose and why."""
    max_files, val_fraction = settings.max_files, settings.val_fraction
    files = [f for c in inputs.corpora for f in c.files(max_files)] + inputs.files
    notes: list[str] = []
    if codec is None:
        codec, why = music_codec(files, settings.codec_options)
        notes.append(f"music codec: {why}")
    pieces = encode_files(files, codec, settings.on_files)
    if not pieces.tokens:
        why = f"; e.g. {pieces.skipped[0]}" if pieces.skipped else ""
        raise SeqgenError(f"no usable music in {len(files)} file(s): {len(pieces.skipped)} piece(s) failed to "
                          f"parse or had no notes{why}")
    train_idx, val_idx = split_pieces(len(pieces.tokens), val_fraction)
    docs = [_document(codec, t) for t in pieces.tokens]
    if not val_idx and val_fraction > 0:  # a single piece: its tail validates
        train_part, val = split_stream(docs[0], val_fraction)
        train: TokenStream = train_part
    else:
        val = np.concatenate([docs[i] for i in val_idx]) if val_idx else np.zeros(0, codec.token_dtype)
        train = PieceStream([docs[i] for i in train_idx], codec, settings.transpose, settings.seed)
    n_train = len(train)
    if n_train < 2:
        raise SeqgenError("too little music to train on")
    seconds = float(sum(pieces.seconds))
    if isinstance(train, PieceStream):
        low, high = train.pitch_range
    else:
        low, high = codec.pitch_span(train) or (0, 127)
    summary = {"documents": len(pieces.tokens), "skipped": len(pieces.skipped),
               "skipped_examples": pieces.skipped[:20], "hours": round(seconds / 3600, 2),
               "tokens": int(sum(len(d) for d in docs)), "train_tokens": int(n_train), "val_tokens": int(len(val)),
               "val_pieces": len(val_idx), "transpose": settings.transpose, "pitch_range": [int(low), int(high)]}
    return TrainingData(codec, train, val, summary, notes + _skip_notes(pieces))


def split_pieces(count: int, val_fraction: float) -> tuple[list[int], list[int]]:
    """Indices of the training and the validation pieces among `count` pieces: a fixed random `val_fraction` of
    them (at least one, never all) validates, spread over the whole collection. Fixed, so that a resumed run and
    benchmarks/music_baseline.py hold out the same pieces."""
    order = list(range(count))
    random.Random(0).shuffle(order)
    n_val = min(count - 1, max(1, round(count * val_fraction))) if val_fraction > 0 else 0
    return order[: count - n_val], order[count - n_val :]


def music_codec(files: Sequence[Path], options: dict[str, Any]) -> tuple[EventCodec, str]:
    """The codec the options ask for, and a line saying which and why. `codec` auto picks remi for scores and for
    MIDI files on a beat grid (see `on_beat_grid`), performance events for the rest and wherever a performance
    codec setting (--step-ms, --velocity-bins, --drums) is given."""
    options = {k: v for k, v in options.items() if v is not None}
    kind = options.pop("codec", "auto")
    performance = sorted(set(options) & set(PERFORMANCE_SETTINGS))
    flags = ", ".join("--" + k.replace("_", "-") for k in performance)
    if kind == "auto":
        if performance:
            kind, why = "performance", f"performance events ({flags} given)"
        else:
            metrical, why = on_beat_grid(files)
            kind = "remi" if metrical else "performance"
            why = f"{kind} ({why}; --codec chooses)"
    else:
        why = f"{kind} (--codec {kind})"
    if kind == "remi":
        if performance:
            raise SeqgenError(f"{flags}: settings of the performance codec; drop them or use --codec performance")
        return MetricalCodec(**{k: v for k, v in options.items() if k == "program"}), why
    return NoteEventCodec(**options), why


def on_beat_grid(files: Sequence[Path], sample: int = 16) -> tuple[bool, str]:
    """Whether the music is metrical, and why: scores are; MIDI files are when, over a fixed sample of up to
    `sample` of them, at least GRID_SHARE of the melody's onsets sit on the 16th-note grid at the files' tempo
    (quantised MIDI written by notation programs scores about 1, a human performance far less)."""
    midi = [f for f in files if f.suffix.lower() in MIDI_SUFFIXES]
    if not midi:
        return True, "scores"
    chosen = sorted(random.Random(0).sample(midi, min(sample, len(midi))))
    shares = []
    for path in chosen:
        try:
            shares.append(grid_share(piece_of(read_midi(path))))
        except (SeqgenError, ValueError):
            continue
    share = float(np.mean(shares)) if shares else 0.0
    return share >= GRID_SHARE, f"{share:.0%} of sampled MIDI onsets on the 16th-note grid"


def _document(codec: EventCodec, tokens: np.ndarray) -> np.ndarray:
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

    def __init__(self, docs: list[np.ndarray], codec: EventCodec, transpose: int, seed: int):
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
