"""μ-law codec for waveforms: each sample becomes one of 2**bits companded amplitude levels, as in WaveNet / SampleRNN.

Token layout (L = 2**bits levels, 256 by default):

    0 .. L-1     level(k)    sample in the k-th of L equal bins of the companded range [-1, 1]
    L            <start>     opens a recording (a context only: never sampled); there is no end token

A sample x is divided by `scale`, clipped to [-1, 1] and companded with F(x) = sign(x) ln(1 + mu|x|) / ln(1 + mu)
(mu = L - 1 unless given), so quiet passages get finer steps than loud ones; decoding maps a level's bin centre back
through F^-1 and multiplies by `scale`. Audio in [-1, 1] uses scale 1.0; physiological signals (e.g. ECG in mV) use a
full-scale value fitted on the training recordings with `fit_scale`.
"""

from __future__ import annotations

import importlib.util
import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from seqgen.codecs.base import Codec, register


def compress(x: np.ndarray, mu: float) -> np.ndarray:
    """μ-law companding F of values in [-1, 1]: equal steps of the result are small near 0 and large near ±1."""
    return np.sign(x) * np.log1p(mu * np.abs(x)) / math.log1p(mu)


def expand(y: np.ndarray, mu: float) -> np.ndarray:
    """Inverse companding F^-1, from [-1, 1] back to [-1, 1]."""
    return np.sign(y) * np.expm1(np.abs(y) * math.log1p(mu)) / mu


@register
class MuLawCodec(Codec):
    """Waveform samples <-> μ-law level tokens; a recording's training form is `<start>` followed by its levels."""

    kind = "mulaw"
    domain = "waveform"

    def __init__(self, sample_rate: int = 16000, bits: int = 8, scale: float = 1.0, channel: int | None = None,
                 mu: float | None = None):
        if not (isinstance(sample_rate, numbers.Integral) and sample_rate > 0):
            raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
        if not (isinstance(bits, numbers.Integral) and 2 <= bits <= 16):
            raise ValueError(f"bits must be an integer from 2 to 16, got {bits!r}")
        if not (isinstance(scale, numbers.Real) and math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive finite number, got {scale!r}")
        if channel is not None and not (isinstance(channel, numbers.Integral) and channel >= 0):
            raise ValueError(f"channel must be None (mono mix-down) or a channel index >= 0, got {channel!r}")
        levels = 2 ** int(bits)
        mu = levels - 1 if mu is None else mu
        if not (isinstance(mu, numbers.Real) and math.isfinite(mu) and mu > 0):
            raise ValueError(f"mu must be a positive finite number, got {mu!r}")
        self.sample_rate, self.bits, self.levels = int(sample_rate), int(bits), levels
        self.scale, self.mu = float(scale), float(mu)
        self.channel = None if channel is None else int(channel)
        self.start_id = levels
        edges = expand(np.linspace(-1.0, 1.0, levels + 1), self.mu)  # bin edges, in units of full scale
        centres = expand(-1.0 + (np.arange(levels) + 0.5) * (2.0 / levels), self.mu)
        self._values = (centres * self.scale).astype(np.float32)  # level -> decoded sample
        self._bound = np.maximum(edges[1:] - centres, centres - edges[:-1]) * self.scale  # level -> worst error

    @property
    def vocab_size(self) -> int:
        return self.levels + 1

    def encode_array(self, samples: np.ndarray) -> np.ndarray:
        """Vectorised encoding of a 1-D sample array straight to int64 level ids (long recordings stay in numpy)."""
        x = np.asarray(samples, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(f"MuLawCodec encodes a 1-D sample array, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("samples contain NaN or infinite values; the reader must fill or drop them first")
        y = compress(np.clip(x / self.scale, -1.0, 1.0), self.mu)
        return np.clip(np.floor((y + 1.0) * (self.levels / 2.0)), 0, self.levels - 1).astype(np.int64)

    def encode(self, samples: np.ndarray) -> list[int]:
        """Level ids of a 1-D float array already at `sample_rate`, without the `<start>` token."""
        return self.encode_array(samples).tolist()

    def encode_document(self, samples: np.ndarray) -> list[int]:
        """Training form of one recording: `<start>` then its levels."""
        return [self.start_id, *self.encode(samples)]

    def decode(self, ids: Iterable[int]) -> np.ndarray:
        """Float32 samples at `sample_rate` (each level's bin centre expanded and rescaled; `<start>` dropped)."""
        arr = np.fromiter(ids, dtype=np.int64)
        if arr.size and (arr.min() < 0 or arr.max() > self.start_id):
            raise ValueError(f"token ids must lie in 0..{self.start_id}, got {arr.min()}..{arr.max()}")
        return self._values[arr[arr != self.start_id]]

    def quantisation_error_bound(self, x: np.ndarray) -> np.ndarray:
        """Per sample, the largest |decode(encode(x)) - x| its bin allows, in signal units (x clipped to ±scale).

        That is half a bin each way in the companded domain, mapped back: since F^-1 is not linear across a bin,
        the bin centre sits a little off the middle of the bin in signal units, and the bound is the longer side.
        """
        return self._bound[self.encode_array(x)]

    def resample(self, samples: np.ndarray, rate: int) -> np.ndarray:
        """`samples` recorded at `rate` Hz, resampled to `sample_rate` (band-limited; unchanged when rates match)."""
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate}")
        x = np.asarray(samples)
        x = x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)
        if int(rate) == self.sample_rate:
            return x
        import librosa  # imported lazily: slow to import and only waveform readers need it

        options = {"res_type": "soxr_hq"} if importlib.util.find_spec("soxr") else {}  # else librosa's default
        return librosa.resample(x, orig_sr=int(rate), target_sr=self.sample_rate, **options)

    @staticmethod
    def fit_scale(signals: Sequence[np.ndarray], quantile: float = 0.999) -> float:
        """Robust full scale for `scale`: the `quantile` of |x| over all samples (NaNs ignored) with 10% headroom,
        so a few artefact spikes clip instead of squeezing the whole signal into the middle levels; 1.0 if zero."""
        if not 0 < quantile <= 1:
            raise ValueError(f"quantile must lie in (0, 1], got {quantile}")
        parts = [np.abs(np.asarray(s, dtype=np.float64)).ravel() for s in signals]
        mags = np.concatenate(parts) if parts else np.zeros(0)
        mags = mags[np.isfinite(mags)]
        full = float(np.quantile(mags, quantile)) * 1.1 if mags.size else 0.0
        return full if full > 0 and math.isfinite(full) else 1.0

    @property
    def special_ids(self) -> list[int]:
        return [self.start_id]

    @property
    def start_ids(self) -> list[int]:
        return [self.start_id]

    def token_name(self, token_id: int) -> str:
        return "<start>" if token_id == self.start_id else f"level({token_id})"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "sample_rate": self.sample_rate, "bits": self.bits, "scale": self.scale,
                "channel": self.channel, "mu": self.mu}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MuLawCodec:
        return cls(sample_rate=d.get("sample_rate", 16000), bits=d.get("bits", 8), scale=d.get("scale", 1.0),
                   channel=d.get("channel"), mu=d.get("mu"))

    def describe(self) -> str:
        channel = "" if self.channel is None else f", channel {self.channel}"
        return f"μ-law ({self.levels} levels, {self.sample_rate} Hz, scale {self.scale:g}{channel})"
