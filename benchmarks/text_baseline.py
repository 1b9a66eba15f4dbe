"""Held-out loss of a checkpoint next to an interpolated Kneser-Ney n-gram counted on the same training tokens.

For any checkpoint validated on a held-out tail (text, DNA, waveforms): the model's loss is the trainer's own
measure on that tail (benchmarks/half_precision.py), the n-gram's the mean NLL of the same tokens with the
training stream as its counts (one long sequence, as the model reads it). Prints one JSON object.

    python benchmarks/text_baseline.py -c checkpoints/english --order 5
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _sibling(name: str):  # the benchmarks are scripts, not a package
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", "--checkpoint", required=True)
    ap.add_argument("--order", type=int, default=5, help="n-gram order (default 5)")
    args = ap.parse_args()
    import seqgen

    model = seqgen.load(args.checkpoint, device="cpu")
    cfg = model.config
    data = _sibling("half_precision").checkpoint_data(model)
    stream = data.train(0) if callable(data.train) else data.train
    train_ids, val_ids = [stream.tolist()], [data.val.tolist()]
    baseline = _sibling("music_baseline")
    vocab = model.codec.vocab_size
    kn = baseline.KneserNey(train_ids, args.order, vocab).nll(val_ids)
    print(json.dumps({
        "checkpoint": str(model.path), "train_tokens": len(train_ids[0]), "val_tokens": len(val_ids[0]),
        "model_best_val_loss": cfg["progress"].get("best_val_loss"),
        f"kneser_ney_{args.order}gram": round(kn, 4),
        "unigram": round(baseline.unigram_nll(train_ids, val_ids, vocab), 4), "uniform": round(math.log(vocab), 4),
    }, indent=2))


if __name__ == "__main__":
    main()
