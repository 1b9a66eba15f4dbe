"""Polyphonic performance events in the style of Magenta's Performance RNN: MIDI <-> note-on/off, time and velocity.

Token layout, in this fixed order (S = round(max_shift_ms / step_ms), V = velocity_bins; defaults 100 and 32):

    0                    <start>           opens a piece (a context only: never sampled)
    1                    <end>             closes a piece
    2 .. 129             NOTE_ON(p)        pitch p (0..127) starts sounding
    130 .. 257           NOTE_OFF(p)       the earliest-started sounding note of pitch p stops (FIFO, as Magenta)
    258 .. 257+S         TIME_SHIFT(k)     time moves on k steps of step_ms, k = 1..S
    258+S .. 257+S+V     VELOCITY(b)       later NOTE_ONs play at loudness bin b (0-based, 1..127 cut into V bins)

A piece is what `notes_of` sees in it: the sustain pedal lengthens notes, all instruments merge into one note list, and
drum tracks are left out unless `drums=True`, when their hits join as ordinary notes (their General MIDI key
numbers read as pitches, so they decode as pitched notes of the one `program` instrument). `encode` starts the piece at
its first onset and rounds times to the nearest step; a rest longer than S steps becomes several TIME_SHIFTs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from seqgen.codecs.base import FramedCodec, register

if TYPE_CHECKING:  # imported lazily: pretty_midi (with fluidsynth) is slow to import and text users never need it
    from seqgen.midi import pretty_midi

START, END = FramedCodec.START, FramedCodec.END
NOTE_ON, NOTE_OFF, TIME_SHIFT = 2, 130, 258  # first id of each block (see the module docstring)
_PEDAL_DOWN, _PEDAL_UP, _KEY_DOWN, _KEY_UP = range(4)  # how simultaneous events are ordered (as in Magenta)


@dataclass(frozen=True)
class Note:
    """One note as the codec sees it: MIDI pitch, onset and release in seconds, MIDI velocity 1..127."""

    pitch: int
    start: float
    end: float
    velocity: int


def velocity_bin(velocity: Any, bins: int) -> Any:
    """Bin (0 .. bins-1) of MIDI velocities 1..127 cut into `bins` near-equal ranges; works on scalars and arrays."""
    return (np.clip(velocity, 1, 127) - 1) * bins // 127


def _sustained(inst: pretty_midi.Instrument) -> list[tuple[int, float, float, int]]:
    """One instrument's notes with the sustain pedal (CC 64 >= 64 = down) holding released notes until pedal up."""
    notes, ends = inst.notes, [n.end for n in inst.notes]
    events = [(n.start, _KEY_DOWN, i) for i, n in enumerate(notes)] + [(n.end, _KEY_UP, i) for i, n in enumerate(notes)]
    pedal_changes = [c for c in inst.control_changes if c.number == 64]
    events += [(c.time, _PEDAL_DOWN if c.value >= 64 else _PEDAL_UP, -1) for c in pedal_changes]
    events.sort()
    pedal, sounding, released, dropped, t = False, [], set(), set(), 0.0
    for t, kind, i in events:
        if kind == _PEDAL_DOWN:
            pedal = True
        elif kind == _PEDAL_UP:
            pedal = False
            for j in released.intersection(sounding):
                ends[j] = t
            sounding = [j for j in sounding if j not in released]
        elif kind == _KEY_DOWN:
            if pedal:  # re-striking a pitch under the pedal ends the earlier note (dropped if struck at the same time)
                for j in sounding:
                    if notes[j].pitch == notes[i].pitch:
                        ends[j] = t
                        if t <= notes[j].start:
                            dropped.add(j)
                sounding = [j for j in sounding if notes[j].pitch != notes[i].pitch]
            sounding.append(i)
        elif i in sounding:  # key up: under the pedal the note keeps sounding
            if pedal:
                released.add(i)
            else:
                sounding.remove(i)
    for j in sounding:  # the pedal was never lifted: hold to the last event
        ends[j] = max(ends[j], t)
    return [(n.pitch, n.start, ends[i], n.velocity) for i, n in enumerate(notes) if i not in dropped]


@register
class NoteEventCodec(FramedCodec):
    """MIDI performances <-> NOTE_ON / NOTE_OFF / TIME_SHIFT / VELOCITY event tokens framed by `<start>`/`<end>`."""

    kind = "note-event"
    domain = "music"

    def __init__(self, step_ms: float = 10.0, max_shift_ms: float = 1000.0, velocity_bins: int = 32,
                 drums: bool = False, program: int = 0, tempo: float = 120.0):
        if not step_ms > 0:
            raise ValueError(f"step_ms must be positive, got {step_ms}")
        if not max_shift_ms >= step_ms:
            raise ValueError(f"max_shift_ms ({max_shift_ms}) must be at least step_ms ({step_ms})")
        if not (velocity_bins == int(velocity_bins) and 1 <= velocity_bins <= 127):
            raise ValueError(f"velocity_bins must be an integer from 1 to 127, got {velocity_bins}")
        if not (program == int(program) and 0 <= program <= 127):
            raise ValueError(f"program must be a General MIDI program number 0..127, got {program}")
        if not tempo > 0:
            raise ValueError(f"tempo must be positive, got {tempo}")
        self.step_ms, self.max_shift_ms, self.tempo = float(step_ms), float(max_shift_ms), float(tempo)
        self.velocity_bins, self.program, self.drums = int(velocity_bins), int(program), bool(drums)
        self.step = self.step_ms / 1000.0  # seconds per step
        self.max_shift_steps = max(1, round(self.max_shift_ms / self.step_ms))
        self.velocity_id = TIME_SHIFT + self.max_shift_steps  # first VELOCITY id
        velocities = np.arange(1, 128)
        bins = velocity_bin(velocities, self.velocity_bins)
        self._bin_velocity = [int(round(velocities[bins == b].mean())) for b in range(self.velocity_bins)]  # centres
        steps = np.zeros(self.vocab_size, dtype=np.int64)
        steps[TIME_SHIFT:self.velocity_id] = np.arange(1, self.max_shift_steps + 1)
        self._steps = steps
        self._seconds = steps * self.step
        self._seconds.flags.writeable = False

    @property
    def vocab_size(self) -> int:
        return self.velocity_id + self.velocity_bins

    def notes_of(self, piece: pretty_midi.PrettyMIDI | Sequence[Note]) -> list[Note]:
        """The notes the codec encodes: sustain applied, instruments merged, same-pitch overlaps paired first-in
        first-out (the only pairing NOTE_OFF can express), each at least one step long, sorted by (start, pitch)."""
        if hasattr(piece, "instruments"):
            raw: list[tuple[int, float, float, int]] = []
            for inst in piece.instruments:
                if not inst.is_drum:
                    raw += _sustained(inst)
                elif self.drums:  # the pedal means nothing to percussion
                    raw += [(n.pitch, n.start, n.end, n.velocity) for n in inst.notes]
        else:
            raw = [(n.pitch, n.start, n.end, n.velocity) for n in piece]
        by_pitch: dict[int, list[tuple[float, float, int]]] = {}
        for pitch, start, end, vel in raw:
            if not 0 <= pitch <= 127:
                raise ValueError(f"note pitch {pitch} is outside MIDI's 0..127")
            by_pitch.setdefault(int(pitch), []).append((float(start), max(float(end), start + self.step), int(vel)))
        notes = []
        for pitch, group in by_pitch.items():
            group.sort()
            ends = sorted(end for _, end, _ in group)  # k-th onset of a pitch pairs with its k-th release
            notes += [Note(pitch, start, end, vel) for (start, _, vel), end in zip(group, ends, strict=True)]
        return sorted(notes, key=lambda n: (n.start, n.pitch, n.end, n.velocity))

    def encode(self, data: pretty_midi.PrettyMIDI | Sequence[Note]) -> list[int]:
        """Event tokens of a piece from its first onset, without boundary tokens ([] when it has no notes)."""
        notes = self.notes_of(data)
        if not notes:
            return []
        t0 = notes[0].start
        pitch = np.array([n.pitch for n in notes], dtype=np.int64)
        on = np.floor((np.array([n.start for n in notes]) - t0) / self.step + 0.5).astype(np.int64)
        off = np.floor((np.array([n.end for n in notes]) - t0) / self.step + 0.5).astype(np.int64)
        off = np.maximum(off, on + 1)
        vbin = velocity_bin(np.array([n.velocity for n in notes], dtype=np.int64), self.velocity_bins)
        zero = np.zeros(len(notes), dtype=np.int64)
        time, is_on = np.concatenate([off, on]), np.concatenate([zero, zero + 1])
        pitches, ends, bins = np.concatenate([pitch, pitch]), np.concatenate([zero, off]), np.concatenate([zero, vbin])
        # by time; at one step releases before onsets (a re-struck pitch), then by pitch, same-pitch onsets by release
        order = np.lexsort((ends, pitches, is_on, time))
        ids: list[int] = []
        now, current_bin, most = 0, -1, self.max_shift_steps
        for t, onset, p, b in zip(*(a[order].tolist() for a in (time, is_on, pitches, bins)), strict=True):
            if t > now:
                full, rest = divmod(t - now, most)
                ids += [TIME_SHIFT + most - 1] * full + ([TIME_SHIFT + rest - 1] if rest else [])
                now = t
            if not onset:
                ids.append(NOTE_OFF + p)
                continue
            if b != current_bin:
                ids.append(self.velocity_id + b)
                current_bin = b
            ids.append(NOTE_ON + p)
        return ids

    def events_to_notes(self, ids: Sequence[int], max_note_seconds: float | None = None) -> list[Note]:
        """Notes an event sequence plays (from `<start>`, up to `<end>`), tolerating the slips of sampled sequences.

        `max_note_seconds` ends notes held longer than that (a sampled piece may forget a NOTE_OFF and leave a
        note droning to its end; Magenta's decoder has the same guard)."""
        sounding: dict[int, deque[tuple[int, int]]] = {}
        found: list[tuple[int, int, int, int]] = []
        now, vel = 0, self._bin_velocity[velocity_bin(64, self.velocity_bins)]  # before any VELOCITY: mezzo-forte
        for i in np.asarray(ids, dtype=np.int64).tolist():
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i} is outside this codec's 0..{self.vocab_size - 1}")
            if i == END:
                break
            if NOTE_ON <= i < NOTE_OFF:
                sounding.setdefault(i - NOTE_ON, deque()).append((now, vel))
            elif NOTE_OFF <= i < TIME_SHIFT:
                if sounding.get(i - NOTE_OFF):  # a release with no sounding note is ignored
                    start, v = sounding[i - NOTE_OFF].popleft()
                    found.append((i - NOTE_OFF, start, max(now, start + 1), v))
            elif TIME_SHIFT <= i < self.velocity_id:
                now += i - TIME_SHIFT + 1
            elif i >= self.velocity_id:
                vel = self._bin_velocity[i - self.velocity_id]
        found += [(p, start, max(now, start + 1), v) for p, q in sounding.items() for start, v in q]
        if max_note_seconds:
            longest = max(1, round(max_note_seconds / self.step))
            found = [(p, start, min(end, start + longest), v) for p, start, end, v in found]
        found.sort(key=lambda n: (n[1], n[0], n[2], n[3]))
        return [Note(p, start * self.step, end * self.step, v) for p, start, end, v in found]

    def decode(self, ids: Sequence[int], max_note_seconds: float | None = None) -> pretty_midi.PrettyMIDI:
        """A MIDI performance of the events: one non-drum `program` instrument at `tempo` (for notation programs);
        `max_note_seconds` as in `events_to_notes`."""
        from seqgen.midi import pretty_midi

        pm = pretty_midi.PrettyMIDI(initial_tempo=self.tempo)
        inst = pretty_midi.Instrument(program=self.program, is_drum=False)
        inst.notes = [pretty_midi.Note(velocity=n.velocity, pitch=n.pitch, start=n.start, end=n.end)
                      for n in self.events_to_notes(ids, max_note_seconds)]
        pm.instruments.append(inst)
        return pm

    @property
    def token_seconds(self) -> np.ndarray:
        """Seconds each token moves time on (read-only; non-zero only for TIME_SHIFT): for duration caps and NLL/s."""
        return self._seconds

    def _array(self, ids: Any) -> np.ndarray:
        """Token ids as an integer array, checked to lie in the vocabulary."""
        arr = np.asarray(ids)
        if arr.size and (arr.min() < 0 or arr.max() >= self.vocab_size):
            raise ValueError(f"token ids must lie in 0..{self.vocab_size - 1}")
        return arr

    def seconds(self, ids: Sequence[int] | np.ndarray) -> float:
        """Duration in seconds of an event sequence (its time shifts up to the first `<end>`)."""
        arr = self._array(ids).astype(np.int64, copy=False)
        ends = np.flatnonzero(arr == END)
        if ends.size:
            arr = arr[: ends[0]]
        return float(self._steps[arr].sum() * self.step)

    def transpose(self, ids: np.ndarray, semitones: int) -> np.ndarray:
        """A copy with every NOTE_ON/NOTE_OFF moved by `semitones` (vectorised, for pitch augmentation of corpora)."""
        arr = self._array(ids)
        out = arr.copy()
        note = (arr >= NOTE_ON) & (arr < TIME_SHIFT)
        if semitones and note.any():
            pitch = (arr[note] - NOTE_ON) % 128
            lo, hi = int(pitch.min()) + semitones, int(pitch.max()) + semitones
            if lo < 0 or hi > 127:
                raise ValueError(f"transposing by {semitones} semitones takes pitches to {lo}..{hi}, outside 0..127")
            out[note] = (arr[note].astype(np.int64) + semitones).astype(arr.dtype)  # unsigned dtypes too
        return out

    def pitch_span(self, ids: np.ndarray) -> tuple[int, int] | None:
        """Lowest and highest NOTE_ON pitch (None without notes): how far a piece can be transposed."""
        arr = self._array(ids)
        played = arr[(arr >= NOTE_ON) & (arr < NOTE_OFF)]
        return (int(played.min()) - NOTE_ON, int(played.max()) - NOTE_ON) if played.size else None

    def pitch_ids(self, pitches: Sequence[int]) -> list[int]:
        """NOTE_ON and NOTE_OFF ids of these pitches (e.g. to keep a sampler inside a trained pitch range)."""
        return [NOTE_ON + p for p in pitches] + [NOTE_OFF + p for p in pitches]

    def token_name(self, token_id: int) -> str:
        """Readable form of one token, e.g. NOTE_ON(60) or TIME_SHIFT(250ms), for per-token reports."""
        i = int(token_id)
        if not 0 <= i < self.vocab_size:
            raise ValueError(f"token id {i} is outside this codec's 0..{self.vocab_size - 1}")
        if i in (START, END):
            return "<start>" if i == START else "<end>"
        if i < NOTE_OFF:
            return f"NOTE_ON({i - NOTE_ON})"
        if i < TIME_SHIFT:
            return f"NOTE_OFF({i - NOTE_OFF})"
        if i < self.velocity_id:
            return f"TIME_SHIFT({(i - TIME_SHIFT + 1) * self.step_ms:g}ms)"
        return f"VELOCITY({i - self.velocity_id})"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "step_ms": self.step_ms, "max_shift_ms": self.max_shift_ms,
                "velocity_bins": self.velocity_bins, "drums": self.drums, "program": self.program, "tempo": self.tempo}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NoteEventCodec:
        keys = ("step_ms", "max_shift_ms", "velocity_bins", "drums", "program", "tempo")
        return cls(**{k: d[k] for k in keys if k in d})

    def describe(self) -> str:
        longest = self.max_shift_steps * self.step_ms
        span = f"{longest / 1000:g} s" if longest >= 1000 else f"{longest:g} ms"
        drums = ", drums included" if self.drums else ""
        return (f"note events ({self.vocab_size} tokens: {self.step_ms:g} ms steps up to {span}, "
                f"{self.velocity_bins} velocity bins{drums})")
