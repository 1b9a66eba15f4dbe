"""Window scores of a recording and the anomaly thresholds calibrated on validation recordings after training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from seqgen.domains.waveform.protocol import SampleCodec

if TYPE_CHECKING:
    from seqgen.models import SequenceModel

CALIBRATED_WINDOWS = (0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # seconds


@dataclass
class WindowScore:
    """How surprising one window of a recording is to the model, in bits per sample, next to the surprise the
    model expected there (`expected_bits`: the mean entropy of its predictions). `excess_bits`, the difference,
    is the window's typicality: near 0 where the signal is as predictable as the model thinks, positive where
    its pattern breaks (noise, wander), negative where it is more regular than any signal the model knows
    (a flat line, a dropped beat: likelihood alone ranks those below clean windows, see tests/test_ecg.py)."""

    start: float
    end: float
    bits_per_sample: float
    anomaly: bool | None  # None when there is no threshold to compare with
    expected_bits: float | None = None

    @property
    def excess_bits(self) -> float | None:
        return None if self.expected_bits is None else self.bits_per_sample - self.expected_bits

    def to_dict(self) -> dict[str, Any]:
        d = {"start": round(self.start, 4), "end": round(self.end, 4),
             "bits_per_sample": round(self.bits_per_sample, 4), "anomaly": self.anomaly}
        if self.expected_bits is not None:
            d |= {"expected_bits": round(self.expected_bits, 4), "excess_bits": round(self.excess_bits, 4)}
        return d


def window_scores(logp: np.ndarray, rate: int, window: float, threshold: float | None,
                  entropy: np.ndarray | None = None) -> list[WindowScore]:
    """Mean surprise (bits) of per-sample log-probabilities `logp` (nats) over consecutive windows, with the
    mean of the per-sample predictive `entropy` (nats) as each window's expected bits when given."""
    from seqgen.score import LN2

    size = max(1, int(round(window * rate)))
    out = []
    for start in range(0, len(logp), size):
        bits = float(-logp[start : start + size].mean() / LN2)
        flag = None if threshold is None else bits > threshold
        expected = None if entropy is None else float(entropy[start : start + size].mean() / LN2)
        out.append(WindowScore(start / rate, min(start + size, len(logp)) / rate, bits, flag, expected))
    return out


def sample_logprobs_and_entropies(net: SequenceModel, codec: SampleCodec,
                                  samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-probability (nats) of every sample of a signal at the codec's rate, from the start context, and the
    entropy (nats) of the model's prediction there."""
    from seqgen.score import score_sequences  # torch: imported when scoring, not when the domain is

    scored = score_sequences(net, [codec.encode(samples)], codec.start_ids, entropies=True)[0]
    return np.asarray(scored.token_logprobs), np.asarray(scored.token_entropies)


def calibrate_anomaly(net: SequenceModel, codec: SampleCodec, val: np.ndarray) -> dict[str, Any]:
    """Anomaly thresholds from validation recordings, one per window length: the mean window surprise plus
    four standard deviations (clean windows rarely pass it; an artefact that breaks the signal's pattern
    does). Longer windows average more samples, so their spread and threshold are smaller; lengths with
    fewer than 8 validation windows are left out."""
    from seqgen.score import score_sequences

    start = codec.start_ids[0]
    logps = [np.asarray(score_sequences(net, [piece[1:].tolist()], [start])[0].token_logprobs)
             for piece in np.split(val, np.where(val == start)[0][1:])]
    rows = []
    for size in CALIBRATED_WINDOWS:
        bits = np.asarray([w.bits_per_sample for lp in logps
                           for w in window_scores(lp, codec.sample_rate, size, None)
                           if w.end - w.start >= size * 0.999])
        if len(bits) >= 8:
            rows.append({"window_s": size, "threshold_bits": round(float(bits.mean() + 4 * bits.std()), 4),
                         "val_mean_bits": round(float(bits.mean()), 4), "val_std_bits": round(float(bits.std()), 4),
                         "val_windows": int(len(bits))})
    return {"windows": rows} if rows else {}


def calibrated_threshold(anomaly: dict[str, Any], window: float) -> float | None:
    """The threshold calibrated for the longest window not longer than `window` (a shorter window's spread is
    wider, so its threshold errs high rather than flagging clean signal); None when none fits."""
    fits = [row for row in anomaly.get("windows", []) if row["window_s"] <= window * 1.0001]
    return fits[-1]["threshold_bits"] if fits else None
