"""Held-out bits per note and per second of music for music checkpoints, each next to n-gram baselines on its tokens.

For each checkpoint, the pieces its training held out (same corpus, codec and split as training) are scored
three ways: by the trained model, by an interpolated Kneser-Ney n-gram model and by a unigram model, both
counted on the untransposed training pieces. Every piece is scored from its <start> token through its <end>
token. Bits per note (notes as the file writes them) and bits per second of music do not depend on how the
music was tokenized, so checkpoints with different codecs compare on them; the pieces are the same ones
wherever both codecs read the same pieces (the table shows how many pieces each held out, and their notes).

    python benchmarks/music_baseline.py -c checkpoints/folk-remi -c checkpoints/folk-performance --order 5
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
from seqgen.domains.music.data import split_pieces
from seqgen.domains.music.pieces import encode_files
from seqgen.inputs import resolve
from seqgen.score import LN2, score_sequences

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


def held_out(model: seqgen.Model) -> tuple[list[list[int]], list[list[int]], int, float]:
    """The checkpoint's training and validation pieces as [<start>, ..., <end>] token lists (untransposed), and
    the validation pieces' notes and seconds of music."""
    cfg, codec = model.config, model.codec
    if cfg["data"].get("val_inputs") or cfg["train"]["val_fraction"] <= 0:
        raise SystemExit(f"{model.path}: validated on --val data; this benchmark needs a held-out split")
    inputs = resolve(cfg["data"]["inputs"], cfg["data"].get("max_files"))
    files = [f for c in inputs.corpora for f in c.files(cfg["data"].get("max_files"))] + inputs.files
    pieces = encode_files(files, codec)
    train_idx, val_idx = split_pieces(len(pieces.tokens), cfg["train"]["val_fraction"])
    if not train_idx or not val_idx:
        raise SystemExit(f"{model.path}: trained on a single piece; this benchmark compares whole pieces")
    doc = [[*codec.start_ids, *t.tolist(), *codec.end_ids] for t in pieces.tokens]
    return ([doc[i] for i in train_idx], [doc[i] for i in val_idx], sum(pieces.notes[i] for i in val_idx),
            sum(pieces.seconds[i] for i in val_idx))


def measure(path: str, order: int) -> dict:
    """Total held-out NLL of the model, the n-gram and the unigram model, per event, note and second."""
    model = seqgen.load(path, device="cpu")
    codec = model.codec
    train, val, notes, seconds = held_out(model)
    events = sum(len(v) - 1 for v in val)
    t0 = time.perf_counter()
    results = score_sequences(model.net, [v[1:] for v in val], codec.start_ids)
    nll = {"model": -sum(r.logprob for r in results) / events}
    t_model = time.perf_counter() - t0
    t0 = time.perf_counter()
    nll[f"kneser_ney_{order}"] = KneserNey(train, order, codec.vocab_size).nll(val)
    t_kn = time.perf_counter() - t0
    nll["unigram"] = unigram_nll(train, val, codec.vocab_size)
    return {
        "checkpoint": str(model.path), "codec": codec.describe(), "train_pieces": len(train),
        "val_pieces": len(val), "val_events": events, "val_notes": notes, "val_seconds": round(seconds, 1),
        "trainer_best_val_loss": model.config["progress"].get("best_val_loss"),
        "nll_per_event": {k: round(v, 4) for k, v in nll.items()},
        "bits_per_note": {k: round(v * events / notes / LN2, 3) for k, v in nll.items()},
        "bits_per_second": {k: round(v * events / seconds / LN2, 2) for k, v in nll.items()},
        "seconds": {"model_scoring": round(t_model, 2), "kneser_ney": round(t_kn, 2)},
    }


def table(rows: list[dict], order: int) -> str:
    """The measurements as a markdown table, one row per checkpoint."""
    kn = f"kneser_ney_{order}"
    lines = ["| checkpoint | held-out pieces | notes | events/note | bits/note: model | "
             f"{order}-gram KN | unigram | bits/s: model | {order}-gram KN |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        b, s = r["bits_per_note"], r["bits_per_second"]
        lines.append(f"| {r['checkpoint']} | {r['val_pieces']} | {r['val_notes']:,} | "
                     f"{r['val_events'] / r['val_notes']:.2f} | {b['model']:.3f} | {b[kn]:.3f} | {b['unigram']:.3f} | "
                     f"{s['model']:.2f} | {s[kn]:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", "--checkpoint", action="append", required=True, help="a music checkpoint (repeatable)")
    ap.add_argument("--order", type=int, default=5, help="n-gram order (default 5)")
    ap.add_argument("--json", action="store_true", help="one JSON object per checkpoint instead of a table")
    args = ap.parse_args()
    rows = [measure(c, args.order) for c in args.checkpoint]
    print("\n".join(json.dumps(r, indent=2) for r in rows) if args.json else table(rows, args.order))


if __name__ == "__main__":
    main()
