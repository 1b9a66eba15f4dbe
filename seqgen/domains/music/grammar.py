"""The grammar of metrical tokens (REMI with seqgen's form and key tokens), for sampling: see seqgen.codecs.grammar.

Every piece the metrical codec encodes follows it (tests check whole corpora), so it forbids only what no real piece
has. Which kinds of token may follow which:

    BOS           -> Key (with key tokens), else Bar or Repeat_start
    Key           -> Bar, Repeat_start
    Bar           -> TimeSig                      (every bar states its metre)
    TimeSig       -> Position, Bar, Repeat_start, Repeat_end, EOS (after an empty last bar)
    Position      -> Pitch
    Pitch         -> Duration
    Duration      -> Pitch (a chord), Position, Bar, Repeat_start, Repeat_end, Ending_1, Ending_2, EOS
    Repeat_start  -> Position, Bar, Ending_2, EOS (a repeat sign after the last note)
    Repeat_end    -> Position, Bar, Repeat_start, Ending_2, EOS
    Ending_1/2    -> Position, Bar

and a `Position` lies after the bar's previous one and inside the bar its time signature sets (12 positions per beat),
so notes never go back in time or spill into the next bar; none comes before the first bar has stated its metre,
and a piece ends (EOS) only once it has a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from seqgen.domains.music.metrical import RESOLUTION, MetricalCodec

# kinds of token
START, KEY, BAR, TIME_SIGNATURE, POSITION, PITCH, DURATION, REPEAT_START, REPEAT_END, ENDING, END, OTHER = range(12)
FOLLOWERS = {
    KEY: (BAR, REPEAT_START),
    BAR: (TIME_SIGNATURE,),
    TIME_SIGNATURE: (POSITION, BAR, REPEAT_START, REPEAT_END, END),
    POSITION: (PITCH,),
    PITCH: (DURATION,),
    DURATION: (PITCH, POSITION, BAR, REPEAT_START, REPEAT_END, ENDING, END),
    REPEAT_START: (POSITION, BAR, ENDING, END),
    REPEAT_END: (POSITION, BAR, REPEAT_START, ENDING, END),
    ENDING: (POSITION, BAR),
    END: (),
    OTHER: (),
}
_FORM = {"Repeat_start": REPEAT_START, "Repeat_end": REPEAT_END, "Ending_1": ENDING, "Ending_2": ENDING}


class State(NamedTuple):
    """The last token's kind, the position of the bar's last note (-1 at a bar line), the positions the bar
    holds (0 before the first time signature: no note may come yet) and whether the piece has a note yet."""

    kind: int
    last_position: int
    bar_positions: int
    has_notes: bool = False


def _kind(name: str) -> int:
    if name in _FORM:
        return _FORM[name]
    prefix = name.split("_")[0]
    return {"Key": KEY, "Bar": BAR, "TimeSig": TIME_SIGNATURE, "Position": POSITION, "Pitch": PITCH,
            "Duration": DURATION, "EOS": END, "BOS": START}.get(prefix, OTHER)


class MetricalGrammar:
    """`MetricalCodec`'s grammar (the table in the module docstring), with masks cached per state."""

    def __init__(self, codec: MetricalCodec):
        self._kind = np.array([_kind(codec.token_name(i)) for i in range(codec.vocab_size)])
        self._position = codec.positions
        # the positions a bar holds, on its time signature token (its beats of RESOLUTION positions; 0 on others)
        beats = np.divide(codec.bar_quarters, codec.beat_quarters, out=np.zeros_like(codec.bar_quarters),
                          where=codec.beat_quarters > 0)
        self._bar_positions = np.rint(beats * RESOLUTION).astype(np.int64)
        self._of_kind = {kind: self._kind == kind for kind in range(OTHER + 1)}
        self._first = (KEY,) if codec.keys else (BAR, REPEAT_START)
        self._masks: dict[State, np.ndarray] = {}

    def start(self, ids: Sequence[int]) -> State:
        state = State(START, -1, 0)
        for token in ids:
            state = self.advance(state, int(token))
        return state

    def advance(self, state: State, token: int) -> State:
        kind = int(self._kind[token])
        if kind == START:
            return State(START, -1, 0)
        if kind in (BAR, TIME_SIGNATURE):
            return State(kind, -1, int(self._bar_positions[token]) or state.bar_positions, state.has_notes)
        if kind == POSITION:
            return State(kind, int(self._position[token]), state.bar_positions, state.has_notes)
        return State(kind, state.last_position, state.bar_positions, state.has_notes or kind == PITCH)

    def allowed(self, state: State) -> np.ndarray:
        mask = self._masks.get(state)
        if mask is None:
            followers = self._first if state.kind == START else FOLLOWERS[state.kind]
            if not state.has_notes:
                followers = tuple(kind for kind in followers if kind != END)
            mask = np.zeros(len(self._kind), dtype=bool)
            for kind in followers:
                mask |= self._of_kind[kind]
            if POSITION in followers:
                outside = (self._position <= state.last_position) | (self._position >= state.bar_positions)
                mask &= ~(self._of_kind[POSITION] & outside)
            self._masks[state] = mask
        return mask
