"""Validation loss of a checkpoint with its float32 weights and rounded to float16, as a shipped model keeps them.

A shipped model's weights are stored in 16 bits (half the size) only where that moves the validation loss by less
than 0.005 nats per token. The loss is the trainer's own measure (every token of the checkpoint's validation
stream, TBPTT windows with the state carried), on the same data the run held out. Prints one JSON object.

    python benchmarks/half_precision.py -c checkpoints/folk-long
"""

from __future__ import annotations

import argparse
import json

import torch

import seqgen
from seqgen.checkpoint import WEIGHTS
from seqgen.data import TBPTTBatches
from seqgen.domains.base import TrainingData
from seqgen.inputs import prepare
from seqgen.trainer import evaluate


def checkpoint_data(model: seqgen.Model) -> TrainingData:
    """The checkpoint's training and validation streams, read again as its run read them (same DATA, codec,
    split and seed)."""
    cfg, train = model.config, model.config["train"]
    return prepare(cfg["data"]["inputs"], train["val_fraction"], model.codec, transpose=train.get("transpose", 0),
                   seed=train["seed"], max_files=cfg["data"].get("max_files"),
                   read_options=cfg["data"].get("read_options"), val=cfg["data"].get("val_inputs"))


def losses(path: str) -> dict:
    """The validation loss (nats/token) with float32 and with float16-rounded weights."""
    from safetensors.torch import load_file

    model = seqgen.load(path, device="cpu")
    train = model.config["train"]
    data = checkpoint_data(model)
    batches = TBPTTBatches(data.val, train["batch_size"], train["seq_len"])
    cpu = torch.device("cpu")
    full = evaluate(model.net, batches, cpu)
    weights = load_file(model.path / WEIGHTS)
    model.net.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in weights.items()})
    half = evaluate(model.net, batches, cpu)
    return {"checkpoint": str(model.path), "val_tokens": int(len(data.val)), "fp32_nats_per_token": round(full, 5),
            "fp16_nats_per_token": round(half, 5), "difference": round(half - full, 5)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", "--checkpoint", required=True)
    print(json.dumps(losses(ap.parse_args().checkpoint), indent=2))


if __name__ == "__main__":
    main()
