"""Seconds of a metrical piece as it is played, token by token: what `seqgen sample --seconds` spends on such a model.

The metrical codec's per-token table (`MetricalCodec.token_seconds`) counts bars as written: each time signature token
costs its bar. But the codec's form tokens (`Repeat_start`, `Repeat_end`, `Ending_1`, `Ending_2`) are played out when
a piece is decoded (see metrical.play_order), so a tune of eight written bars with both its parts repeated lasts
sixteen, and a cap counted as written let a sample asked for 20 s play for 35.

`PlayedTime` is a meter (seqgen.sample.Meter): it follows a token sequence and says, per token, how much longer the
piece as played has become. It keeps the sequence's timeline as the decoder reads it (bars at their time signatures,
form marks at the bar line or note position that follows them, the piece starting at its first note or at a repeat
sign before it) and measures it with the decoder's own `play_order`, so a `Repeat_end` costs the passage it sends
playing back over, less a first ending the second time through skips. A later token can change what an earlier
one meant, and its cost is then that change, so that after every token the costs so far add up to the played length
(a sample cut there by its budget plays no longer than it): a `Repeat_end` is charged the whole passage, first ending
included, since the decoder plays that ending again unless an `Ending_2` follows, and the `Ending_2` gives the first
ending's bars back; a note position after a `Repeat_end` moves its mark from the bar line to mid-bar. Bars count
whole, the last one too (notes held past the last bar line are not counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from seqgen.domains.music.metrical import RESOLUTION, TEMPO, MetricalCodec, play_order


class Timeline(NamedTuple):
    """A sequence's timeline, in seconds: where its written bars end and the current one starts, the current bar's
    beat, its first note (None before one), its form marks placed (time, token id) and those not placed yet (they go
    at the next bar line or note position, or at the end), the length of the piece as played, and its bar lines and
    note positions so far (a repeat resumes in step with the bars, see metrical.in_step)."""

    end: float = 0.0
    bar_start: float = 0.0
    beat: float = 0.5
    first_note: float | None = None
    marks: tuple[tuple[float, int], ...] = ()
    pending: tuple[int, ...] = ()
    played: float = 0.0
    bars: tuple[float, ...] = ()
    onsets: tuple[float, ...] = ()


class PlayedTime:
    """A `MetricalCodec`'s sequences timed as the decoder plays them: states are `Timeline`s, and each token costs
    the seconds it adds to (or, where it changes what earlier marks mean, takes from) the piece as played."""

    def __init__(self, codec: MetricalCodec):
        self._bar = codec.bar_id
        self._form = codec.form_ids
        self._form_ids = set(self._form.values())
        self._seconds = codec.token_seconds  # a bar's length on its time signature token
        self._beat = codec.beat_quarters * 60 / TEMPO  # seconds per beat on a time signature token
        self._position = codec.positions

    def start(self, ids: Sequence[int]) -> Timeline:
        """The timeline after `ids` (a primer). Samples are charged from there on, so the primer's own bars cost
        them nothing, but its form marks and bars still count where a sample's `Repeat_end` sends playing back
        into them."""
        state = Timeline()
        for token in ids:
            state, _ = self.advance(state, int(token))
        return state

    def advance(self, state: Timeline, token: int) -> tuple[Timeline, float]:
        """The timeline after `token`, and the seconds it adds to the piece as played."""
        if token == self._bar:
            opened = state._replace(bar_start=state.end, bars=(*state.bars, state.end))
            return self._measured(state, self._placed(opened, state.end))
        if self._seconds[token]:
            bar, beat = float(self._seconds[token]), float(self._beat[token])
            return self._measured(state, state._replace(end=state.end + bar, beat=beat))
        if self._position[token] >= 0:
            when = state.bar_start + int(self._position[token]) / RESOLUTION * state.beat
            first = when if state.first_note is None else state.first_note
            noted = state._replace(first_note=first, onsets=(*state.onsets, when))
            return self._measured(state, self._placed(noted, when))
        if token in self._form_ids:
            return self._measured(state, state._replace(pending=(*state.pending, token)))
        return state, 0.0  # pitches, durations, keys and special tokens take no time

    @staticmethod
    def _placed(state: Timeline, when: float) -> Timeline:
        """`state` with its pending form marks placed at `when`, as the decoder places them at a bar line or note."""
        if not state.pending:
            return state
        return state._replace(marks=(*state.marks, *((when, token) for token in state.pending)), pending=())

    def _measured(self, before: Timeline, after: Timeline) -> tuple[Timeline, float]:
        """`after` with its played length, and what it adds to `before`'s; measured anew only where what the
        length depends on has changed (without form marks, notes and bar lines change nothing of it)."""
        unmarked = not (after.marks or after.pending)
        if (after.end, after.first_note, after.marks, after.pending) == \
                (before.end, before.first_note, before.marks, before.pending) and unmarked:
            return after, 0.0
        played = self._played(after)
        return after._replace(played=played), played - before.played

    def _played(self, state: Timeline) -> float:
        """How long the piece lasts with its repeats played out, as `MetricalCodec.decode` plays it: the written
        bars as they are without form marks or notes, else from the piece's start along `play_order`."""
        if state.first_note is None or not (state.marks or state.pending):
            return state.end
        marks: dict[float, set[int]] = {}
        for when, token in state.marks:
            marks.setdefault(when, set()).add(token)
        if state.pending:  # marks after the last note: at the end
            marks.setdefault(state.end, set()).update(state.pending)
        start = min(state.first_note, *marks)
        segments = play_order(marks, start, state.end, self._form, (*state.bars, state.end), sorted(state.onsets))
        return start + sum(b - a for a, b in segments)


def played_seconds(codec: MetricalCodec, ids: Sequence[int]) -> float:
    """How long a token sequence lasts as played, repeats played out, at the decoder's 120 quarter notes per minute
    (whole bars, as `--seconds` counts them): where a primer ends in the piece a sample continues."""
    return PlayedTime(codec).start(ids).played
