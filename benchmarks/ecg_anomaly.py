"""ECG anomaly benchmark: train on synthetic ECG, then rank artefact windows of a held-out recording.

Synthetic ECG comes from neurokit2's ECGSYN model (realistic P-QRS-T morphology, heart-rate variability).
A model is trained on training recordings; a held-out recording gets artefacts injected into some of its
windows (baseline wander, a missing beat, a noise burst); every window is scored in bits per sample and
the ROC AUC of "artefact windows score higher than clean ones" is reported, with the held-out bits per
sample next to the signal's μ-law unigram entropy. The AUCs are given twice: ranking windows by bits per sample
(what the anomaly threshold uses) and by |excess_bits|, the distance from the model's own expected bits (a
typicality score: a missing beat is more regular than clean ECG and ranks low by bits alone). Prints one JSON
object.

    python benchmarks/ecg_anomaly.py --minutes 10 --max-time 300
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

import seqgen
from seqgen.domains.waveform.signals import write_recording
from seqgen.score import LN2

RATE = 250


def synthetic_ecg(seconds: float, seed: int, heart_rate: float) -> np.ndarray:
    import neurokit2

    return np.asarray(neurokit2.ecg_simulate(duration=int(seconds), sampling_rate=RATE, heart_rate=heart_rate,
                                             heart_rate_std=3, method="ecgsyn", random_state=seed))


KINDS = ("baseline wander", "missing beat", "noise burst")


def inject(x: np.ndarray, window: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Artefacts in a third of the windows, the KINDS in turn; returns the signal and each window's kind
    index (-1: clean). A missing beat is one R-R cycle replaced by a straight line between the midpoints
    around its R peak (a dropped beat: the baseline goes on where a beat was due)."""
    import neurokit2

    x = x.copy()
    n = len(x) // window
    kinds = np.full(n, -1)
    chosen = rng.choice(np.arange(1, n - 1), size=n // 3, replace=False)
    amp = np.percentile(np.abs(x), 99)
    peaks = np.asarray(neurokit2.ecg_peaks(x, sampling_rate=RATE)[1]["ECG_R_Peaks"])
    for k, w in enumerate(sorted(chosen)):
        s = slice(w * window, (w + 1) * window)
        t = np.arange(window) / RATE
        kind = k % 3
        if kind == 0:
            x[s] += 0.8 * amp * np.sin(2 * np.pi * 0.5 * t)
        elif kind == 1:
            j = int(np.searchsorted(peaks, (w + 0.5) * window))  # the first beat past the window's middle
            j = min(max(j, 1), len(peaks) - 2)
            a, b = (peaks[j - 1] + peaks[j]) // 2, (peaks[j] + peaks[j + 1]) // 2
            x[a:b] = np.linspace(x[a], x[b], b - a)
        else:
            x[s] += rng.normal(0, 0.3 * amp, window)
        kinds[w] = kind
    return x, kinds


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a random artefact window outscores a random clean one (ties count half)."""
    pos, neg = scores[labels], scores[~labels]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="minutes of training ECG (4 recordings)")
    ap.add_argument("--max-time", type=float, default=300.0, help="training budget in seconds")
    ap.add_argument("--window", type=float, default=2.0, help="scored window in seconds")
    ap.add_argument("--seq-len", type=int, default=None, help="training window in samples (default: seqgen's)")
    ap.add_argument("--batch-size", type=int, default=None, help="windows per step (default: seqgen's)")
    ap.add_argument("--out", default=None, help="checkpoint folder (default: a temporary one)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="seqgen-ecg-"))
    each = args.minutes * 60 / 4
    files = []
    for i, hr in enumerate((62, 70, 78, 86)):
        files.append(work / f"train{i}.csv")
        write_recording(files[-1], synthetic_ecg(each, seed=i, heart_rate=hr), RATE)
    folder = Path(args.out) if args.out else work / "ckpt"
    t0 = time.perf_counter()
    result = seqgen.train([str(f) for f in files], folder, max_time=args.max_time, device="cpu", overwrite=True,
                          seq_len=args.seq_len, batch_size=args.batch_size)
    train_s = time.perf_counter() - t0
    model = seqgen.load(folder, device="cpu")

    held = synthetic_ecg(120, seed=99, heart_rate=74)
    clean_file = work / "heldout.csv"
    write_recording(clean_file, held, RATE)
    clean = model.score_windows(clean_file, args.window)
    codec = model.codec
    levels = codec.encode_array(codec.resample(held, RATE))
    counts = np.bincount(levels, minlength=codec.levels) + 1e-12
    p = counts / counts.sum()
    entropy_bits = float(-(p * np.log2(p)).sum())

    broken, kinds = inject(held, int(args.window * RATE), np.random.default_rng(0))
    labels = kinds >= 0
    broken_file = work / "heldout-artefacts.csv"
    write_recording(broken_file, broken, RATE)
    windows = model.score_windows(broken_file, args.window)[: len(labels)]
    scores = np.array([w.bits_per_sample for w in windows])
    excess = np.array([w.excess_bits for w in windows])
    typical = np.abs(excess)
    flagged = np.array([bool(w.anomaly) for w in windows])
    print(json.dumps({
        "train_minutes": args.minutes, "train_seconds": round(train_s, 1), "steps": result.steps,
        "seq_len": model.config["train"]["seq_len"], "batch_size": model.config["train"]["batch_size"],
        "best_val_loss_nats": result.best_val_loss,
        "heldout_bits_per_sample": round(float(np.mean([w.bits_per_sample for w in clean])), 4),
        "heldout_mulaw_unigram_entropy_bits": round(entropy_bits, 4),
        "val_bits_per_sample": round(result.best_val_loss / LN2, 4) if result.best_val_loss else None,
        "windows": int(len(labels)), "artefact_windows": int(labels.sum()),
        "roc_auc": round(auc(scores, labels), 4),
        "roc_auc_by_kind": {name: round(auc(scores[(kinds == k) | ~labels], labels[(kinds == k) | ~labels]), 4)
                            for k, name in enumerate(KINDS)},
        "typicality_roc_auc": round(auc(typical, labels), 4),
        "typicality_roc_auc_by_kind": {name: round(auc(typical[(kinds == k) | ~labels],
                                                       labels[(kinds == k) | ~labels]), 4)
                                       for k, name in enumerate(KINDS)},
        "excess_bits_by_kind": {name: round(float(excess[kinds == k].mean()), 3) for k, name in enumerate(KINDS)},
        "clean_excess_bits_range": [round(float(excess[~labels].min()), 3), round(float(excess[~labels].max()), 3)],
        "bits_per_sample_by_kind": {name: round(float(scores[kinds == k].mean()), 3) for k, name in enumerate(KINDS)},
        "clean_bits_per_sample_range": [round(float(scores[~labels].min()), 3), round(float(scores[~labels].max()), 3)],
        "threshold_bits": model.anomaly_threshold(args.window),
        "flagged_artefact_windows": int((flagged & labels).sum()),
        "flagged_clean_windows": int((flagged & ~labels).sum()),
        "flagged_by_kind": {name: int((flagged & (kinds == k)).sum()) for k, name in enumerate(KINDS)},
        "uniform_bits": round(math.log2(codec.levels), 2),
    }, indent=2))


if __name__ == "__main__":
    main()
