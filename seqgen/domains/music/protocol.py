"""What the music domain needs from its codec beyond the `Codec` interface (NoteEventCodec provides it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import pretty_midi


class EventCodec(Protocol):
    """A codec of timed note events: durations, pitches and transposition read off the tokens."""

    token_dtype: Any
    start_ids: list[int]
    end_ids: list[int]

    def encode(self, data: pretty_midi.PrettyMIDI) -> list[int]: ...

    def decode(self, ids: Sequence[int], max_note_seconds: float | None = None) -> pretty_midi.PrettyMIDI: ...

    def token_name(self, token_id: int) -> str: ...

    @property
    def token_seconds(self) -> np.ndarray:
        """Seconds each token moves time on (0 for all but time shifts)."""
        ...

    def seconds(self, ids: Sequence[int] | np.ndarray) -> float:
        """How long a token sequence lasts."""
        ...

    def transpose(self, ids: np.ndarray, semitones: int) -> np.ndarray:
        """The same events with every pitch moved."""
        ...

    def pitch_span(self, ids: np.ndarray) -> tuple[int, int] | None:
        """Lowest and highest pitch played, or None without notes."""
        ...

    def pitch_ids(self, pitches: Sequence[int]) -> list[int]:
        """The ids that start notes of these pitches."""
        ...
