#!/usr/bin/env python3
"""Speed of seqgen against a plain-PyTorch yardstick, measured in one run on the same machine.

Three figures for a given cell and size, each over a time budget:
  train   tokens/s of seqgen's training step (TBPTT windows, AdamW, clipping) on tiny-shakespeare, in fp32
          and then, from the same initial weights for the same number of steps, with --precision bf16
          (bfloat16 autocast); the mean training loss of the last 10 steps of both
  sample  steps/s of batch-1 generation (seqgen.sample.generate, temperature 0.8), exact and with 8-bit
          recurrent weights (`seqgen sample --int8`), and tokens/s of 8 and 64 samples drawn together
  score   sequences/s of scoring the corpus lines (seqgen.score.score_sequences, batched by length), in fp32
          and under bf16 autocast
and, for train and score, the figures of --precision auto (what it chose on this machine and why, from the CPU
flags that decide), plus peak resident memory. The yardstick (../shared/bench/reference.py by default) runs in a child
process with the same settings; its JSON and the ratios seqgen/reference are printed beside ours.

usage: python benchmarks/bench.py [--cell gru] [--hidden 256] [--layers 2] [--batch 64] [--seq-len 128]
                                  [--seconds 20] [--text FILE] [--reference PATH | --no-reference]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from seqgen.codecs import CharCodec
from seqgen.data import TBPTTBatches, to_array
from seqgen.models import ModelConfig, SequenceModel
from seqgen.precision import cpu_flags, decide
from seqgen.sample import generate
from seqgen.score import score_sequences
from seqgen.stepper import int8_available
from seqgen.trainer import TrainConfig, make_optimizer, train_step

CPU_FLAGS_SHOWN = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "bf16")  # what bears on the choice

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
DEFAULT_REFERENCE = ROOT.parent / "shared" / "bench" / "reference.py"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


# Runs a command and prints its peak RSS (KiB) last on stderr. A child forked straight from this process would
# inherit its resident size as a high-water mark; forked from this small interpreter, the yardstick's is its own.
MEASURE_CHILD = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
                 "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
                 "sys.exit(r.returncode)")


def bench_train(model: SequenceModel, tokens, batch: int, seq_len: int, seconds: float = math.inf,
                steps: float = math.inf, precision: str = "fp32") -> tuple[float, float, int]:
    """Train for `seconds` or `steps`, whichever ends first: (tokens/s, mean loss of the last 10 steps, steps)."""
    batches = TBPTTBatches(tokens, batch, seq_len)
    opt = make_optimizer(model, TrainConfig(lr=2e-3))
    model.train()
    hidden, done, i, losses = None, 0, 0, []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds and len(losses) < steps:
        if i == len(batches):
            i, hidden = 0, None
        x, y = batches.window(i)
        loss, _, hidden = train_step(model, opt, x, y, hidden, 5.0, precision)
        losses.append(loss)
        done += x.numel()
        i += 1
    return done / (time.perf_counter() - t0), sum(losses[-10:]) / len(losses[-10:]), len(losses)


def bench_sample(model: SequenceModel, seconds: float, num: int = 1, weights: str = "fp32") -> float:
    """Generated tokens per second (summed over the `num` samples drawn together)."""
    generate(model, [1], 50, num=num, temperature=0.8, seed=0, weights=weights)  # warm-up
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        generate(model, [1], 2000, num=num, temperature=0.8, seed=steps, weights=weights)
        steps += 2000
    return steps * num / (time.perf_counter() - t0)


def bench_score(model: SequenceModel, lines: list[list[int]], seconds: float, precision: str = "fp32") -> float:
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds and done < len(lines):
        chunk = lines[done : done + 1024]
        score_sequences(model, chunk, batch_size=128, precision=precision)
        done += len(chunk)
    return done / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", type=Path, default=DEFAULT_TEXT)
    p.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn_tanh", "rnn_relu"])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--embed", type=int, default=None, help="embedding size (default: --hidden, as the yardstick)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--seconds", type=float, default=20.0, help="time budget of each of the three parts")
    p.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    p.add_argument("--no-reference", action="store_true")
    a = p.parse_args()
    if not a.text.is_file():
        sys.exit(f"bench.py: {a.text}: no such file (give --text FILE)")

    text = a.text.read_text(encoding="utf-8")
    codec = CharCodec.fit([text])
    tokens = to_array(codec.encode(text), codec.vocab_size)
    config = ModelConfig(vocab_size=codec.vocab_size, cell=a.cell, layers=a.layers, hidden=a.hidden,
                         embed=a.embed or a.hidden)
    torch.manual_seed(0)
    model = SequenceModel(config)
    train_tps, loss, steps = bench_train(model, tokens, a.batch, a.seq_len, seconds=a.seconds)
    torch.manual_seed(0)  # the same initial weights, the same windows, the same number of steps
    bf16_tps, bf16_loss, _ = bench_train(SequenceModel(config), tokens, a.batch, a.seq_len, steps=steps,
                                         precision="bf16")
    auto = decide("auto", torch.device("cpu"))
    torch.manual_seed(0)
    auto_tps, auto_loss, _ = bench_train(SequenceModel(config), tokens, a.batch, a.seq_len, steps=steps,
                                         precision=auto.chosen)
    model.eval()
    sample_sps = bench_sample(model, a.seconds)
    int8 = {"sample_int8_steps_per_s": round(bench_sample(model, a.seconds, weights="int8"))} if (
        a.cell != "rnn_relu" and int8_available()) else {}
    batched = {f"sample_batch{n}_tokens_per_s": round(bench_sample(model, a.seconds / 2, n)) for n in (8, 64)}
    lines = [codec.encode(ln) for ln in text.splitlines() if len(ln) > 1]
    score_sps = bench_score(model, lines, a.seconds)
    score_bf16_sps = bench_score(model, lines, a.seconds, "bf16")
    score_auto_sps = bench_score(model, lines, a.seconds, "auto")
    ours = {"train_tokens_per_s": round(train_tps), "train_loss_nats": round(loss, 4), "train_steps": steps,
            "train_bf16_tokens_per_s": round(bf16_tps), "train_bf16_loss_nats": round(bf16_loss, 4),
            "sample_steps_per_s": round(sample_sps), **int8, **batched, "score_sequences_per_s": round(score_sps),
            "score_bf16_sequences_per_s": round(score_bf16_sps),
            "auto": {"chose": auto.chosen, "because": auto.reason, "train_tokens_per_s": round(auto_tps),
                     "train_loss_nats": round(auto_loss, 4), "score_sequences_per_s": round(score_auto_sps)},
            "peak_rss_mb": round(peak_rss_mb(), 1)}
    out = {"config": {"cell": a.cell, "hidden": a.hidden, "layers": a.layers, "embed": a.embed or a.hidden,
                      "batch": a.batch, "seq_len": a.seq_len, "seconds": a.seconds,
                      "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                      "cpu_flags": sorted((cpu_flags() or set()) & set(CPU_FLAGS_SHOWN))},
           "seqgen": ours}

    if not a.no_reference and a.cell not in ("lstm", "gru"):
        print(f"bench.py: the yardstick has no {a.cell} cell; printing seqgen's figures alone", file=sys.stderr)
    elif not a.no_reference and not a.reference.is_file():
        print(f"bench.py: no yardstick at {a.reference} (give --reference PATH, or --no-reference); printing "
              "seqgen's figures alone", file=sys.stderr)
    if not a.no_reference and a.cell in ("lstm", "gru") and a.reference.is_file():
        cmd = [sys.executable, str(a.reference), "--text", str(a.text), "--cell", a.cell, "--hidden", str(a.hidden),
               "--layers", str(a.layers), "--batch", str(a.batch), "--seq-len", str(a.seq_len),
               "--seconds", str(a.seconds)]
        run = subprocess.run([sys.executable, "-c", MEASURE_CHILD, *cmd], capture_output=True, text=True, check=True)
        ref = json.loads(run.stdout)
        ref["peak_rss_mb"] = round(int(run.stderr.strip().splitlines()[-1]) / 1024, 1)
        out["reference"] = ref
        out["ratio_seqgen_over_reference"] = {
            "train": round(ours["train_tokens_per_s"] / ref["train_tokens_per_s"], 2),
            "sample": round(ours["sample_steps_per_s"] / ref["sample_steps_per_s"], 2),
            **({"sample_int8": round(ours["sample_int8_steps_per_s"] / ref["sample_steps_per_s"], 2)} if int8 else {}),
            "train_bf16": round(ours["train_bf16_tokens_per_s"] / ref["train_tokens_per_s"], 2),
            "score": round(ours["score_sequences_per_s"] / ref["score_lines_per_s"], 2),
            "score_bf16": round(ours["score_bf16_sequences_per_s"] / ref["score_lines_per_s"], 2),
            "peak_rss": round(ours["peak_rss_mb"] / ref["peak_rss_mb"], 2),
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
