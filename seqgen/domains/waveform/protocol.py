"""What the waveform domain needs from its codec beyond the `Codec` interface (MuLawCodec provides it)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np


class SampleCodec(Protocol):
    """A codec of one token per sample at a fixed rate."""

    sample_rate: int
    token_dtype: Any
    start_ids: list[int]

    def encode(self, samples: np.ndarray) -> list[int]: ...

    def encode_document(self, samples: np.ndarray) -> list[int]: ...

    def decode(self, ids: Iterable[int]) -> np.ndarray: ...

    def resample(self, samples: np.ndarray, rate: int) -> np.ndarray:
        """Samples at `rate` Hz brought to the codec's rate."""
        ...
