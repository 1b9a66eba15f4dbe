"""Metrical music tokens: MidiTok's REMI on symusic, behind the music domain's codec interface.

Performance events (seqgen.codecs.notes) spell time as free 10 ms shifts, so a model must rediscover the metre
from sums of shifts. REMI spells it: every bar opens with `Bar` and its time signature (`TimeSig_6/8`), each
note says where in the bar it starts (`Position_k`, 12 positions per beat), its `Pitch_p` and its `Duration`
in beats. A model then knows where the beat is, and a sampled tune keeps it.

MidiTok does the tokenization; written here, and why:
* one stream: with programs off MidiTok makes one sequence per track, so the tracks are merged first (voices of
  a chorale interleave by onset, then pitch, MidiTok's order);
* times in seconds for `--seconds` and bits per second: REMI has no time-shift tokens, so each bar's time
  signature token carries the bar's length (at the 120 quarter notes per minute the decoder writes);
* transposition and pitch bans as id tables over the `Pitch_p` tokens (the full MIDI range is in the vocabulary,
  so a transposed piece never falls outside it);
* JSON in and out: MidiTok rebuilds a tokenizer only from a file, so `from_dict` writes its dict to a temporary
  file (no pickle, no network).
miditok imports torch and takes about a second: it is imported when a metrical codec is first built.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seqgen.codecs.base import Codec, register
from seqgen.domains.music.files import DEFAULT_VELOCITY

if TYPE_CHECKING:
    import miditok
    import symusic

    from seqgen.midi import pretty_midi

NAME = "music"
SPECIAL_TOKENS = ("PAD", "BOS", "EOS")
# Positions per beat over ranges of beats (MidiTok's beat_res); a beat is the time signature's denominator.
# 12 holds 16ths and eighth triplets in x/4 and x/8; durations to 4 beats at that resolution, then 4 per beat.
BEAT_RES = {(0, 4): 12, (4, 12): 4}
# The time signatures of folk tunes and chorales, as {denominator: numerators}; others become the nearest bar
# MidiTok can write (it drops signatures it has no token for).
TIME_SIGNATURES = {8: [3, 6, 9, 12], 4: [1, 2, 3, 4, 5, 6], 2: [2, 3, 4]}
TEMPO = 120.0  # quarter notes per minute of decoded pieces: scores' tempo marks are not part of the tune
_TIME_SIGNATURE = re.compile(r"TimeSig_(\d+)/(\d+)")


def _tokenizer(params: dict[str, Any] | None = None) -> miditok.REMI:
    """A REMI tokenizer: from a stored dict, else seqgen's settings (time signatures on, programs, velocities,
    tempos, chords and rests off: a score's notes and metre, one stream)."""
    import miditok

    if params is not None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "tokenizer.json"
            path.write_text(json.dumps(params))
            return miditok.REMI(params=path)
    return miditok.REMI(miditok.TokenizerConfig(
        pitch_range=(0, 127), beat_res=dict(BEAT_RES), special_tokens=list(SPECIAL_TOKENS),
        use_velocities=False, use_time_signatures=True,
        time_signature_range={k: list(v) for k, v in TIME_SIGNATURES.items()},
        use_tempos=False, use_programs=False, use_chords=False, use_rests=False, use_pitchdrum_tokens=False))


def _score(pm: pretty_midi.PrettyMIDI) -> symusic.Score:
    """A PrettyMIDI's pitched notes, time signatures and tempo as a one-track symusic Score."""
    import symusic

    buffer = io.BytesIO()
    pm.write(buffer)
    score = symusic.Score.from_midi(buffer.getvalue())
    tracks = [t for t in score.tracks if not t.is_drum]
    merged = symusic.Track(program=tracks[0].program if tracks else 0)
    for track in tracks:
        merged.notes.extend(track.notes)
    merged.notes.sort(key=lambda n: (n.time, n.pitch))
    score.tracks.clear()
    score.tracks.append(merged)
    return score


@register
class MetricalCodec(Codec):
    """Pieces as REMI tokens, ids as MidiTok numbers them. BOS opens a training document and is the unprimed
    context, EOS ends a piece, PAD is never used; `decode` gives a PrettyMIDI at 120 quarter notes per minute,
    with the time signatures the tokens say, notes on `program`."""

    kind = "metrical"
    domain = NAME

    def __init__(self, program: int = 0, *, params: dict[str, Any] | None = None):
        if not (isinstance(program, int) and 0 <= program <= 127):
            raise ValueError(f"program must be a General MIDI program 0-127, got {program!r}")
        self.program = program
        self.tokenizer = _tokenizer(params)
        names = [self.tokenizer[i] for i in range(len(self.tokenizer))]
        self._pitch = np.array([int(n[6:]) if n.startswith("Pitch_") else -1 for n in names])
        self._pitch_id = {int(p): i for i, p in enumerate(self._pitch) if p >= 0}
        # seconds each token moves time on: a bar's time signature token carries the bar (n beats of 4/d quarters)
        bars = [_TIME_SIGNATURE.fullmatch(n) for n in names]
        self._seconds = np.array([int(m[1]) * 4 / int(m[2]) * 60 / TEMPO if m else 0.0 for m in bars])

    # --- vocabulary -------------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def _special(self, name: str) -> int:
        return self.tokenizer.vocab[f"{name}_None"]

    @property
    def special_ids(self) -> list[int]:
        return [self._special(name) for name in SPECIAL_TOKENS]

    @property
    def start_ids(self) -> list[int]:
        return [self._special("BOS")]

    @property
    def end_ids(self) -> list[int]:
        return [self._special("EOS")]

    def token_name(self, token_id: int) -> str:
        return self.tokenizer[int(token_id)]

    # --- pieces <-> tokens --------------------------------------------------------------------------------
    def encode(self, data: pretty_midi.PrettyMIDI) -> list[int]:
        """A piece's REMI tokens without boundary tokens ([] without notes); all pitched tracks as one stream,
        drums left out. Bars count from the piece's time 0, so a score read with its pickup shifted (see
        files.score_to_midi) starts its pickup late in bar 0."""
        score = _score(data)
        if not score.tracks[0].notes:
            return []
        sequence = self.tokenizer.encode(score)
        return list((sequence[0] if isinstance(sequence, list) else sequence).ids)

    def encode_document(self, piece: pretty_midi.PrettyMIDI) -> list[int]:
        """Training form `[BOS, *tokens, EOS]`, so that pieces never run into each other in a corpus."""
        return [*self.start_ids, *self.encode(piece), *self.end_ids]

    def decode(self, ids: Sequence[int], max_note_seconds: float | None = None) -> pretty_midi.PrettyMIDI:
        """Tokens -> a one-instrument PrettyMIDI (special tokens dropped); notes held longer than
        `max_note_seconds` are shortened to it."""
        from seqgen.midi import pretty_midi

        special = set(self.special_ids)
        kept = [int(i) for i in ids if int(i) not in special]
        score = self.tokenizer.decode([kept]) if kept else None
        buffer = io.BytesIO(score.dumps_midi() if score is not None else b"")
        pm = pretty_midi.PrettyMIDI(buffer) if score is not None else pretty_midi.PrettyMIDI(initial_tempo=TEMPO)
        for inst in pm.instruments:
            inst.program = self.program
            for note in inst.notes:
                note.velocity = DEFAULT_VELOCITY  # REMI here carries no loudness: scores' notes are played at 90
                if max_note_seconds:
                    note.end = min(note.end, note.start + max_note_seconds)
        return pm

    @property
    def token_seconds(self) -> np.ndarray:
        """Seconds each token moves time on: a bar's length on its time signature token, 0 elsewhere."""
        return self._seconds

    def seconds(self, ids: Sequence[int] | np.ndarray) -> float:
        """How long a token sequence lasts, in whole bars."""
        ids = np.asarray(ids, dtype=np.int64)
        return float(self._seconds[ids].sum()) if len(ids) else 0.0

    def transpose(self, ids: np.ndarray, semitones: int) -> np.ndarray:
        """The same tokens with every pitch moved (a pitch leaving the vocabulary's range, 0-126, is clamped;
        callers keep within it)."""
        out = np.array(ids, copy=True)
        pitches = self._pitch[out]
        moved = pitches >= 0
        low, high = min(self._pitch_id), max(self._pitch_id)
        out[moved] = [self._pitch_id[min(max(int(p) + semitones, low), high)] for p in pitches[moved]]
        return out

    def pitch_span(self, ids: np.ndarray) -> tuple[int, int] | None:
        pitches = self._pitch[np.asarray(ids, dtype=np.int64)]
        played = pitches[pitches >= 0]
        return (int(played.min()), int(played.max())) if len(played) else None

    def pitch_ids(self, pitches: Sequence[int]) -> list[int]:
        return [self._pitch_id[p] for p in pitches if p in self._pitch_id]

    # --- serialisation ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the program and MidiTok's own dict of the tokenizer (its whole configuration)."""
        return {"kind": self.kind, "program": self.program, "miditok": self.tokenizer.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetricalCodec:
        return cls(d.get("program", 0), params=d["miditok"])

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (to music-parsing worker processes) as its JSON dict."""
        return MetricalCodec.from_dict, (self.to_dict(),)

    def describe(self) -> str:
        return f"metrical REMI ({self.vocab_size} tokens)"
