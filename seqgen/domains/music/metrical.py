"""Metrical music tokens: MidiTok's REMI on symusic, behind the music domain's codec interface.

Performance events (seqgen.codecs.notes) spell time as free 10 ms shifts, so a model must rediscover the metre
from sums of shifts. REMI spells it: every bar opens with `Bar` and its time signature (`TimeSig_6/8`), each
note says where in the bar it starts (`Position_k`, 12 positions per beat), its `Pitch_p` and its `Duration`
in beats. A model then knows where the beat is, and a sampled tune keeps it.

MidiTok does the tokenization; written here, and why:
* one stream: with programs off MidiTok makes one sequence per track, so the tracks are merged first (voices of
  a chorale interleave by onset, then pitch, MidiTok's order);
* times in seconds for bits per second: REMI has no time-shift tokens, so each bar's time signature token carries
  the bar's length (at the 120 quarter notes per minute the decoder writes); `--seconds` counts the bars as played,
  repeats played out (see played_time);
* transposition and pitch bans as id tables over the `Pitch_p` tokens (the full MIDI range is in the vocabulary,
  so a transposed piece never falls outside it);
* form, the folk-rnn way: four tokens after MidiTok's, `Repeat_start`, `Repeat_end`, `Ending_1`, `Ending_2`,
  written before the bar or note position where the score has a repeat sign or an ending (files.score_to_midi
  keeps them as text events). A model that writes `Repeat_end` after eight bars gets those eight bars again,
  exactly; `decode` plays the repeats out as a musician would (see `play_order`);
* the key, as a conditioning token: 24 `Key_D`, `Key_Bm`, ... tokens after the form tokens, one opening every
  piece (the key its notes fit best, see keys.estimate_key; transposition moves it with the notes). A sample
  primed with `Key_D` is asked for a tune in D; the decoder writes the key as the MIDI file's key signature.
miditok imports torch and takes about a second: it is imported when a metrical codec is first built.
"""

from __future__ import annotations

import bisect
import io
import json
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seqgen.codecs.base import Codec, register
from seqgen.domains.music.files import DEFAULT_VELOCITY, FIRST_ENDING, REPEAT_END, REPEAT_START, SECOND_ENDING
from seqgen.domains.music.keys import KEY_NAMES, key_of_notes

if TYPE_CHECKING:
    import miditok
    import symusic

    from seqgen.domains.music.grammar import MetricalGrammar
    from seqgen.midi import pretty_midi

NAME = "music"
SPECIAL_TOKENS = ("PAD", "BOS", "EOS")
# Positions per beat over ranges of beats (MidiTok's beat_res); a beat is the time signature's denominator.
# 12 holds 16ths and eighth triplets in x/4 and x/8; durations to 4 beats at that resolution, then 4 per beat.
# In x/2 a beat is a half note, whose 12 positions cannot hold 16ths, so x/2 bars are written as (2x)/4 bars:
# the same length, quarter-note beats.
BEAT_RES = {(0, 4): 12, (4, 12): 4}
RESOLUTION = 12  # positions per beat (the finest of BEAT_RES)
MAX_FOLD_BARS = 16  # the longest passage played twice in a row that is written once with repeat signs
# The time signatures of folk tunes and chorales, as {denominator: numerators}; others become the nearest bar
# MidiTok can write (it drops signatures it has no token for).
TIME_SIGNATURES = {8: [3, 6, 9, 12], 4: [1, 2, 3, 4, 5, 6, 8]}
TEMPO = 120.0  # quarter notes per minute of decoded pieces: scores' tempo marks are not part of the tune
_TIME_SIGNATURE = re.compile(r"TimeSig_(\d+)/(\d+)")
# The form tokens, after MidiTok's ids, in the order they are written at one bar line (a repeat ends before the
# next one starts; an ending starts its bar)
FORM_TOKENS = {REPEAT_END: "Repeat_end", REPEAT_START: "Repeat_start", FIRST_ENDING: "Ending_1",
               SECOND_ENDING: "Ending_2"}


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
    for signature in score.time_signatures:
        if signature.denominator == 2:  # 2/2 -> 4/4, 3/2 -> 6/4: same bar, beats MidiTok can divide into 16ths
            signature.numerator, signature.denominator = 2 * signature.numerator, 4
    return score


@register
class MetricalCodec(Codec):
    """Pieces as REMI tokens, ids as MidiTok numbers them, then the form tokens and (with `keys`) the key tokens.
    BOS opens a training document and is the unprimed context, EOS ends a piece (a sample ends there), PAD is
    never used; `decode` gives a PrettyMIDI at 120 quarter notes per minute, with the time signatures and key
    the tokens say, notes on `program`. `keys` False is the vocabulary of checkpoints from before key tokens."""

    kind = "metrical"
    domain = NAME

    def __init__(self, program: int = 0, *, keys: bool = True, params: dict[str, Any] | None = None):
        if not (isinstance(program, int) and 0 <= program <= 127):
            raise ValueError(f"program must be a General MIDI program 0-127, got {program!r}")
        self.program, self.keys = program, keys
        self.tokenizer = _tokenizer(params)
        self._base = len(self.tokenizer)  # form tokens follow MidiTok's, key tokens follow them
        self.form_ids = {mark: self._base + k for k, mark in enumerate(FORM_TOKENS)}
        self._key_base = self._base + len(FORM_TOKENS)
        self._extra = list(FORM_TOKENS.values()) + ([f"Key_{k}" for k in KEY_NAMES] if keys else [])
        self.bar_id = self.tokenizer.vocab["Bar_None"]
        names = [self.tokenizer[i] for i in range(self._base)] + self._extra
        self._pitch = np.array([int(n[6:]) if n.startswith("Pitch_") else -1 for n in names])
        self._pitch_id = {int(p): i for i, p in enumerate(self._pitch) if p >= 0}
        # per id, read off the names once (the grammar and the played-time meter read them too): a time
        # signature's bar and beat in quarters (n beats of 4/d quarters; 0 for other tokens), a position's index in
        # the bar (-1 for other tokens)
        signatures = [_TIME_SIGNATURE.fullmatch(n) for n in names]
        self.bar_quarters = np.array([int(m[1]) * 4 / int(m[2]) if m else 0.0 for m in signatures])
        self.beat_quarters = np.array([4 / int(m[2]) if m else 0.0 for m in signatures])
        self.positions = np.array([int(n[9:]) if n.startswith("Position_") else -1 for n in names])
        # seconds each token moves time on: a bar's time signature token carries the bar
        self._seconds = self.bar_quarters * 60 / TEMPO
        # "6/8" -> the id of TimeSig_6/8
        self.meters = {f"{m[1]}/{m[2]}": i for i, m in enumerate(signatures) if m}
        self._grammar: MetricalGrammar | None = None

    # --- vocabulary -------------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self._base + len(self._extra)

    def _special(self, name: str) -> int:
        return self.tokenizer.vocab[f"{name}_None"]

    @property
    def special_ids(self) -> list[int]:
        """PAD and BOS, which a sample never writes; EOS is the end a sample may reach (`end_ids`)."""
        return [self._special("PAD"), self._special("BOS")]

    @property
    def start_ids(self) -> list[int]:
        return [self._special("BOS")]

    @property
    def end_ids(self) -> list[int]:
        return [self._special("EOS")]

    def token_name(self, token_id: int) -> str:
        token_id = int(token_id)
        return self.tokenizer[token_id] if token_id < self._base else self._extra[token_id - self._base]

    def key_id(self, key: int) -> int | None:
        """The token that opens a piece in key number `key` (see seqgen.domains.music.keys); None without key
        tokens."""
        return self._key_base + key if self.keys else None

    def first_bar(self, meter: str) -> list[int]:
        """The tokens that open a piece's first bar in `meter` ("6/8", one of `meters`)."""
        return [self.bar_id, self.meters[meter]]

    def key_of(self, ids: Sequence[int]) -> int | None:
        """The key number a token sequence's key token names (its first), or None."""
        return next((int(i) - self._key_base for i in ids if self.keys and int(i) >= self._key_base), None)

    def grammar(self) -> MetricalGrammar:
        """Bars, positions, pitches and durations in REMI's order, positions inside their bar (see
        seqgen.domains.music.grammar); built once per codec."""
        if self._grammar is None:
            from seqgen.domains.music.grammar import MetricalGrammar

            self._grammar = MetricalGrammar(self)
        return self._grammar

    # --- pieces <-> tokens --------------------------------------------------------------------------------
    def encode(self, data: pretty_midi.PrettyMIDI) -> list[int]:
        """A piece's tokens without boundary tokens ([] without notes): its key, then REMI with form tokens; all
        pitched tracks as one stream, drums left out. Bars count from the piece's time 0, so a score read with
        its pickup shifted (see files.score_to_midi) starts its pickup late in bar 0."""
        score = _score(data)
        if not score.tracks[0].notes:
            return []
        sequence = self.tokenizer.encode(score)
        ids = list((sequence[0] if isinstance(sequence, list) else sequence).ids)
        marked = any(e.text in self.form_ids for e in data.text_events)
        ids = self._with_form(ids, data) if marked else self._folded(ids)
        key = key_of_notes([n for inst in data.instruments if not inst.is_drum for n in inst.notes]) \
            if self.keys else None
        return ids if key is None else [self.key_id(key), *ids]

    def _folded(self, ids: list[int]) -> list[int]:
        """A piece written without repeat signs, with every passage of 2 to MAX_FOLD_BARS whole bars that is played
        again at once, note for note, written once between `Repeat_start` and `Repeat_end` (the longest first):
        the form the score would have had with repeat signs. Lossless, since decoding plays it out again; it
        shows a model the form of songs written out in full (the Essen collection has no repeat signs)."""
        bars: list[list[int]] = []
        for token in ids:
            if token == self.bar_id or not bars:
                bars.append([])
            bars[-1].append(token)
        out: list[int] = []
        i = 0
        while i < len(bars):
            length = next((n for n in range(min(MAX_FOLD_BARS, (len(bars) - i) // 2), 1, -1)
                           if bars[i : i + n] == bars[i + n : i + 2 * n] and bars[i][0] == self.bar_id), 0)
            if length:
                out += [self.form_ids[REPEAT_START], *(t for bar in bars[i : i + length] for t in bar),
                        self.form_ids[REPEAT_END]]
                i += 2 * length
            else:
                out += bars[i]
                i += 1
        return out

    def _with_form(self, ids: list[int], pm: pretty_midi.PrettyMIDI) -> list[int]:
        """`ids` with each of the piece's form marks as a token before the first bar or note position at or after
        the mark's time (a bar line, or mid-bar where a repeat ends on a short bar and the next part's pickup
        fills it, as folk tunes often do); marks after the last note go at the end."""
        marks = sorted((pm.time_to_tick(e.time) / pm.resolution, self.form_ids[e.text]) for e in pm.text_events
                       if e.text in self.form_ids)
        if not marks:
            return ids
        times, _ = self._times(ids)
        out, k = [], 0
        for token, when in zip(ids, times, strict=True):
            while k < len(marks) and when is not None and when >= marks[k][0] - 1e-6:
                out.append(marks[k][1])
                k += 1
            out.append(token)
        return out + [token for _, token in marks[k:]]

    def _times(self, ids: Sequence[int]) -> tuple[list[float | None], float]:
        """Each token's place in quarter notes (a `Bar`'s start, a `Position`'s onset; None for the rest), and
        where the last bar ends."""
        times: list[float | None] = []
        start, length, beat, bars = 0.0, 4.0, 1.0, 0
        for token in ids:
            when = None
            if token == self.bar_id:
                start, bars = (start + length if bars else 0.0), bars + 1
                when = start
            elif self.bar_quarters[token]:
                length, beat = self.bar_quarters[token], self.beat_quarters[token]
            elif self.positions[token] >= 0:
                when = start + self.positions[token] / RESOLUTION * beat
            times.append(when)
        return times, start + length if bars else 0.0

    def encode_document(self, piece: pretty_midi.PrettyMIDI) -> list[int]:
        """Training form `[BOS, *tokens, EOS]`, so that pieces never run into each other in a corpus."""
        return [*self.start_ids, *self.encode(piece), *self.end_ids]

    def decode(self, ids: Sequence[int], max_note_seconds: float | None = None) -> pretty_midi.PrettyMIDI:
        """Tokens -> a one-instrument PrettyMIDI (special tokens dropped) with the tokens' time signatures and key
        signature, its repeats played out; notes held longer than `max_note_seconds` are shortened to it."""
        from seqgen.midi import pretty_midi

        special = {*self.special_ids, *self.end_ids}
        written = [int(i) for i in ids if int(i) not in special]
        kept = [i for i in written if i < self._base]
        score = self.tokenizer.decode([kept]) if kept else None
        buffer = io.BytesIO(score.dumps_midi() if score is not None else b"")
        pm = pretty_midi.PrettyMIDI(buffer) if score is not None else pretty_midi.PrettyMIDI(initial_tempo=TEMPO)
        for inst in pm.instruments:
            inst.program = self.program
            for note in inst.notes:
                note.velocity = DEFAULT_VELOCITY  # REMI here carries no loudness: scores' notes are played at 90
                if max_note_seconds:
                    note.end = min(note.end, note.start + max_note_seconds)
        key = self.key_of(written)
        if key is not None:
            pm.key_signature_changes = [pretty_midi.KeySignature(key, 0.0)]
        return self._play_out(pm, written) if score is not None else pm

    def _play_out(self, pm: pretty_midi.PrettyMIDI, ids: Sequence[int]) -> pretty_midi.PrettyMIDI:
        """The decoded piece with its repeats played out as `play_order` says (notes moved; time signatures and
        tempo as the piece opens)."""
        marks: dict[float, set[int]] = {}
        pending: list[int] = []
        times, bar_end = self._times(ids)
        for token, when in zip(ids, times, strict=True):
            if self._base <= token < self._key_base:
                pending.append(token)
            elif when is not None and pending:
                marks.setdefault(when * 60 / TEMPO, set()).update(pending)
                pending = []
        notes = [n for inst in pm.instruments for n in inst.notes]
        if not notes or not (marks or pending):
            return pm
        # the written piece ends with its last bar (a repeat of whole bars keeps the metre), or its last note
        end = max(max(n.end for n in notes), bar_end * 60 / TEMPO)
        if pending:  # marks after the last note: at the end
            marks.setdefault(end, set()).update(pending)
        # the piece starts at its first note, or at a repeat sign before it (a first bar of silence is repeated too)
        # bar lines, the last bar's end included (a repeat sign after the last note stands there)
        bars = [when * 60 / TEMPO for token, when in zip(ids, times, strict=True) if token == self.bar_id]
        bars.append(bar_end * 60 / TEMPO)
        onsets = sorted(n.start for n in notes)
        segments = play_order(marks, min(onsets[0], *marks), end, self.form_ids, bars, onsets)
        played = []
        at = segments[0][0]
        for a, b in segments:
            played += [type(n)(n.velocity, n.pitch, n.start - a + at, n.end - a + at)
                       for n in notes if a <= n.start < b]
            at += b - a
        pm.instruments[0].notes = played
        del pm.instruments[1:]
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
        if self.keys:  # a key moves with its notes and keeps its mode
            keys = out >= self._key_base
            key = out[keys].astype(np.int64) - self._key_base
            out[keys] = self._key_base + (key // 12) * 12 + (key + semitones) % 12
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
        return {"kind": self.kind, "program": self.program, "keys": self.keys, "miditok": self.tokenizer.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetricalCodec:
        return cls(d.get("program", 0), keys=d.get("keys", False), params=d["miditok"])

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (to music-parsing worker processes) as its JSON dict."""
        return MetricalCodec.from_dict, (self.to_dict(),)

    def describe(self) -> str:
        return f"metrical REMI ({self.vocab_size} tokens{', key tokens' if self.keys else ''})"


def in_step(bars: Sequence[float], onsets: Sequence[float], back_to: float, at: float) -> float:
    """Where a repeat from `at` back to `back_to` resumes so that the bars go on in step: the latest time at or
    before `back_to` that lies as far into its bar as `at` lies into its own (`bars`, `onsets`: bar starts and note
    onsets, ascending), provided no note starts in between (the lead-in is silence: nothing is played again that the
    piece does not repeat); else `back_to`.

    Real tunes repeat whole bars, or a pickup with the short bar it completes, so the two mostly agree already. A
    model may open a piece on a stray position and end the repeat on a bar line: played from its first note, every
    bar of the second time through would fall off the beat; resumed at that bar's line, it keeps the beat."""
    def bar_of(t: float) -> int:
        return max(0, bisect.bisect_right(bars, t + 1e-9) - 1)

    if not bars:
        return back_to
    offset = at - bars[bar_of(at)]
    for k in (bar_of(back_to), bar_of(back_to) - 1):
        if k < 0:
            break
        resume = bars[k] + offset
        fits = k + 1 >= len(bars) or resume < bars[k + 1] - 1e-9
        if resume <= back_to + 1e-9 and fits:
            silent = bisect.bisect_left(onsets, resume - 1e-9) == bisect.bisect_left(onsets, back_to - 1e-9)
            return resume if silent else back_to
    return back_to


def play_order(marks: dict[float, set[int]], start: float, end: float, form: dict[str, int],
               bars: Sequence[float] = (), onsets: Sequence[float] = ()) -> list[tuple[float, float]]:
    """The stretches of a written piece in the order they are played, as (from, to) times, given its form marks
    by time (`form` maps REPEAT_START, ... to their token ids). A repeat end goes back once to the last repeat
    start (else the beginning, or the end of the previous repeat, as in ABC); the second time through, a first
    ending is skipped for the second ending after it. Marks a model wrote out of place are played as far as they
    make sense and never loop: each repeat end is taken once. With the piece's `bars` (bar lines) and note
    `onsets`, both ascending, a repeat resumes in step with the bars (see `in_step`)."""
    begin_, end_, first_, second_ = (form[m] for m in (REPEAT_START, REPEAT_END, FIRST_ENDING, SECOND_ENDING))
    marks = {**marks, start: marks.get(start, set()) & {begin_}}  # at the very start only a repeat start means anything
    times = sorted(t for t in marks if start <= t <= end)
    segments: list[tuple[float, float]] = []
    pos, back_to, again, taken, jumped_to = start, start, False, set(), None
    while True:
        here_at = next((t for t in times if t >= pos), None)
        if here_at is None:
            segments.append((pos, end))
            return [(a, b) for a, b in segments if b > a]
        segments.append((pos, here_at))
        here, pos = marks[here_at], here_at
        if here_at == jumped_to:  # back at a repeat's start: the previous section's end here is behind us
            here = here - {end_}
        jumped_to = None
        if end_ in here:
            if here_at not in taken:  # the first time at this repeat end: back to its start
                taken.add(here_at)
                resume = in_step(bars, onsets, back_to, here_at)
                segments.append((resume, back_to))  # a lead-in that keeps the bars in step (mostly empty)
                pos, again, jumped_to = back_to, True, back_to
                continue
            again, back_to = False, here_at  # the repeat is done; the next starts here at the latest
        if begin_ in here and not again:
            back_to = here_at
        if first_ in here and again:  # the second time through, the second ending replaces the first
            second = next((t for t in times if t > here_at and second_ in marks[t]), None)
            if second is not None:
                pos, again, back_to = second, False, second
                continue
        after = next((t for t in times if t > here_at), None)
        segments.append((here_at, end if after is None else after))
        if after is None:
            return [(a, b) for a, b in segments if b > a]
        pos = after
