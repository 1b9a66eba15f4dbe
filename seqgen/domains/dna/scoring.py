"""Scoring DNA: bits per base of each FASTA record, and of consecutive windows of it to spot unusual regions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seqgen.domains.base import finite
from seqgen.domains.dna.codec import NucleotideCodec
from seqgen.domains.dna.fasta import read_fasta
from seqgen.errors import SeqgenError

if TYPE_CHECKING:
    from seqgen.models import SequenceModel


@dataclass
class BaseWindow:
    """How surprising bases [start, end) of a record are to the model (0-based, end exclusive)."""

    start: int
    end: int
    bits_per_base: float
    unusual: bool | None = None  # None when there is no threshold to compare with

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "bits_per_base": round(self.bits_per_base, 4),
                "unusual": self.unusual}


@dataclass
class RecordScore:
    """Score of one FASTA record: log P of its bases and its end, bits per base, and its windows."""

    file: str
    name: str
    bases: int
    logprob: float
    bits_per_base: float
    windows: list[BaseWindow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return finite({"file": self.file, "record": self.name, "bases": self.bases, "logprob": self.logprob,
                       "bits_per_base": self.bits_per_base, "windows": [w.to_dict() for w in self.windows]})


def score_records(net: SequenceModel, codec: NucleotideCodec, paths: Sequence[str | Path], window: int,
                  threshold: float | None, batch_size: int, precision: str) -> list[RecordScore]:
    """Every record of the FASTA files, scored whole from `<start>` to `<end>`, with windows of `window` bases
    flagged when above `threshold` bits per base."""
    if window < 1:
        raise SeqgenError(f"--window must be at least 1 base, got {window}")
    named, seqs = [], []
    for path in paths:
        for record in read_fasta(Path(path)):
            try:
                ids = codec.encode_array(record.bases)
            except ValueError as e:
                raise SeqgenError(f"{path}: record {record.name}: {e}") from None
            named.append((str(path), record.name))
            seqs.append(ids.tolist() + list(codec.end_ids))
    from seqgen.score import LN2, score_sequences  # torch: imported when scoring, not when the domain is

    results = score_sequences(net, seqs, codec.start_ids, batch_size=batch_size, precision=precision)
    scores = []
    for (file, name), seq, r in zip(named, seqs, results, strict=True):
        logp = np.asarray(r.token_logprobs[: len(seq) - 1])  # the bases; the last token is <end>
        windows = []
        for start in range(0, len(logp), window):
            bits = float(-logp[start : start + window].mean() / LN2)
            windows.append(BaseWindow(start, min(start + window, len(logp)), bits,
                                      None if threshold is None else bits > threshold))
        scores.append(RecordScore(file, name, len(logp), r.logprob, float(-logp.sum() / LN2 / len(logp)), windows))
    return scores


CALIBRATED_WINDOWS = (100, 250, 500, 1000, 2500, 5000, 10000)  # bases
SPREADS = 4.0  # threshold = mean + SPREADS standard deviations of validation windows' bits (the waveforms' rule)
MIN_WINDOWS = 8  # window lengths with fewer validation windows are left out


def calibrate_windows(net: SequenceModel, codec: NucleotideCodec, val: np.ndarray) -> dict[str, Any]:
    """Thresholds for unusual windows, measured on the validation bases after training: for each window length,
    the mean bits per base of half-overlapping validation windows plus SPREADS standard deviations. Longer
    windows average more bases, so their spread and threshold are smaller."""
    from seqgen.score import LN2, score_sequences

    scored = score_sequences(net, [val.tolist()], codec.start_ids)[0]
    special = np.isin(val, [*codec.start_ids, *codec.end_ids])
    bits = -np.asarray(scored.token_logprobs)[~special] / LN2  # the bases' own surprise, record marks left out
    rows = []
    for size in CALIBRATED_WINDOWS:
        means = np.asarray([bits[i : i + size].mean() for i in range(0, len(bits) - size + 1, size // 2)])
        if len(means) >= MIN_WINDOWS:
            rows.append({"window_bases": size, "threshold_bits": round(float(means.mean() + SPREADS * means.std()), 4),
                         "val_mean_bits": round(float(means.mean()), 4), "val_std_bits": round(float(means.std()), 4),
                         "val_windows": int(len(means))})
    return {"windows": rows} if rows else {}


def calibrated_threshold(calibration: dict[str, Any], window: int) -> float | None:
    """The threshold calibrated for the longest window not longer than `window` (a shorter window's spread is
    wider, so its threshold errs high rather than flagging ordinary sequence); None when none fits."""
    fits = [row for row in calibration.get("windows", []) if row["window_bases"] <= window]
    return fits[-1]["threshold_bits"] if fits else None
