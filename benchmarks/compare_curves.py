"""Validation loss against seconds of training for several runs in one picture (e.g. a fine-tune beside training
from scratch on the same data), and each run's validation losses as a table.

    python benchmarks/compare_curves.py -c ft/from-folk -c ft/scratch --out docs/models/folk/finetune.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from matplotlib.figure import Figure

from seqgen.checkpoint import METRICS
from seqgen.render import read_losses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", "--checkpoint", action="append", required=True, help="a run folder (repeatable)")
    ap.add_argument("--out", required=True, help="the PNG to write")
    args = ap.parse_args()
    fig = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    ax = fig.subplots()
    print("| run | validation loss (nats/token) at seconds of training |\n| --- | --- |")
    for folder in map(Path, args.checkpoint):
        _, val = read_losses(folder / METRICS)
        ax.plot([p[1] for p in val], [p[2] for p in val], marker="o", markersize=3, label=folder.name)
        print(f"| {folder.name} | " + ", ".join(f"{p[2]:.4f} @ {p[1]:.0f} s" for p in val) + " |")
    ax.set_xlabel("seconds of training")
    ax.set_ylabel("validation loss (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(args.out)


if __name__ == "__main__":
    main()
