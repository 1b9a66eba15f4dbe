"""Held-out NLL per event of a music checkpoint next to simple baselines on exactly the same tokens.

The checkpoint's own validation pieces (same corpus, codec and split as training) are scored three
ways: by the trained model, by a unigram model and by an interpolated Kneser-Ney n-gram model, both
counted on the untransposed training pieces. Every piece is scored from its <start> token through its
<end> token. Prints one JSON object.

    python benchmarks/music_baseline.py -c checkpoints/chorales-lstm --order 5
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

import seqgen
from seqgen.domains.music.data import PieceStream
from seqgen.inputs import prepare
from seqgen.score import score_sequences

PAD = -1  # left padding, so n-grams at a piece's start have a context of their own


def unigram_nll(train: Sequence[Sequence[int]], test: Sequence[Sequence[int]], vocab: int) -> float:
    """Mean NLL (nats) of the test tokens after <start> under add-one smoothed training frequencies."""
    counts = np.ones(vocab)
    for seq in train:
        np.add.at(counts, np.asarray(seq[1:]), 1)
    logp = np.log(counts / counts.sum())
    tokens = np.concatenate([np.asarray(s[1:]) for s in test])
    return float(-logp[tokens].mean())


class KneserNey:
    """Interpolated Kneser-Ney n-gram model with Ney's per-order discount D = n1 / (n1 + 2 n2)."""

    def __init__(self, train: Sequence[Sequence[int]], order: int, vocab: int):
        self.n, self.vocab = order, vocab
        grams: list[Counter] = [Counter() for _ in range(order + 1)]
        for seq in train:
            padded = [PAD] * (order - 1) + list(seq)
            for m in range(1, order + 1):
                grams[m].update(g for g in (tuple(padded[i : i + m]) for i in range(len(padded) - m + 1))
                                if g[-1] != PAD)  # pads are context, never predicted
        # highest order: raw counts; lower orders: how many distinct tokens precede the n-gram
        self.count: list[Counter] = [Counter() for _ in range(order + 1)]
        self.count[order] = grams[order]
        for m in range(1, order):
            for g in grams[m + 1]:
                self.count[m][g[1:]] += 1
        self.denom: list[dict] = [defaultdict(int) for _ in range(order + 1)]
        self.types: list[dict] = [defaultdict(int) for _ in range(order + 1)]
        self.discount = [0.0] * (order + 1)
        for m in range(1, order + 1):
            for g, c in self.count[m].items():
                self.denom[m][g[:-1]] += c
                self.types[m][g[:-1]] += 1
            n1 = sum(1 for c in self.count[m].values() if c == 1)
            n2 = sum(1 for c in self.count[m].values() if c == 2)
            self.discount[m] = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5

    def prob(self, history: tuple[int, ...], w: int) -> float:
        p = 1.0 / self.vocab
        for m in range(1, self.n + 1):
            h = history[len(history) - (m - 1) :] if m > 1 else ()
            total = self.denom[m].get(h, 0)
            if total == 0:
                continue  # unseen context: keep the lower order's estimate
            d = self.discount[m]
            p = max(self.count[m].get(h + (w,), 0) - d, 0) / total + d * self.types[m][h] / total * p
        return p

    def nll(self, test: Sequence[Sequence[int]]) -> float:
        """Mean NLL (nats) of every token after <start>."""
        total, count = 0.0, 0
        for seq in test:
            padded = [PAD] * (self.n - 1) + list(seq)
            for i in range(self.n, len(padded)):
                total -= math.log(self.prob(tuple(padded[i - self.n + 1 : i]), padded[i]))
                count += 1
        return total / count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", "--checkpoint", required=True)
    ap.add_argument("--order", type=int, default=5, help="n-gram order (default 5)")
    args = ap.parse_args()
    model = seqgen.load(args.checkpoint, device="cpu")
    cfg, codec = model.config, model.codec
    data = prepare(cfg["data"]["inputs"], cfg["train"]["val_fraction"], codec, seed=cfg["train"]["seed"],
                   max_files=cfg["data"].get("max_files"))
    if not isinstance(data.train, PieceStream):
        raise SystemExit("this baseline compares music checkpoints trained on several pieces")
    start = codec.start_ids[0]
    train = [d.tolist() for d in data.train.docs]
    val = [p.tolist() for p in np.split(data.val, np.where(data.val == start)[0][1:])]
    t0 = time.perf_counter()
    results = score_sequences(model.net, [v[1:] for v in val], [start])
    model_nll = -sum(r.logprob for r in results) / sum(r.tokens for r in results)
    t_model = time.perf_counter() - t0
    t0 = time.perf_counter()
    kn = KneserNey(train, args.order, codec.vocab_size)
    kn_nll = kn.nll(val)
    t_kn = time.perf_counter() - t0
    val_events = sum(len(v) - 1 for v in val)
    seconds = sum(codec.seconds(v) for v in val)
    print(json.dumps({
        "checkpoint": str(model.path), "train_pieces": len(train), "val_pieces": len(val),
        "val_events": val_events, "val_seconds": round(seconds, 1),
        "model_nll_per_event": round(model_nll, 4),
        "trainer_best_val_loss": cfg["progress"].get("best_val_loss"),
        f"kneser_ney_{args.order}gram_nll_per_event": round(kn_nll, 4),
        "unigram_nll_per_event": round(unigram_nll(train, val, codec.vocab_size), 4),
        "uniform_nll_per_event": round(math.log(codec.vocab_size), 4),
        "model_nll_per_second": round(model_nll * val_events / seconds, 2),
        "seconds": {"model_scoring": round(t_model, 2), "kneser_ney": round(t_kn, 2)},
    }, indent=2))


if __name__ == "__main__":
    main()
