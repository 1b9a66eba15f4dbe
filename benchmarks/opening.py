"""Samples asked for a metre and a key (`seqgen sample --meter 6/8 --key D`), measured against what was asked.

For each metre given, `--num` samples of a metrical checkpoint asked for that metre (and `--key`, if given) are
decoded as `seqgen sample --midi` writes them and measured: whether the written time signature is the one asked,
the share of inner bars filled as that metre says (musicality.bar_fill: notes sound on the downbeat and through
90 % of the bar), the share of samples with every inner bar filled, and the share in the key asked (the
key estimate seqgen's key tokens use). For reference, the same bar measures of up to `--real` real tunes of the
`folk` corpus written in that metre. Prints a markdown table.

    python benchmarks/opening.py -c checkpoints/folk --meter 6/8 --meter 4/4 --key D --num 10 --seed 1
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator

import numpy as np

import seqgen
from seqgen.domains import get_corpus
from seqgen.domains.music.files import piece_sources, read_source
from seqgen.domains.music.keys import key_of_notes, parse_key
from seqgen.domains.music.musicality import bar_fill, piece_of
from seqgen.domains.music.opening import Opening
from seqgen.errors import SeqgenError
from seqgen.midi import pretty_midi


def meter_of(pm: pretty_midi.PrettyMIDI) -> str | None:
    """The piece's first written time signature, "6/8"."""
    signatures = pm.time_signature_changes
    return f"{signatures[0].numerator}/{signatures[0].denominator}" if signatures else None


def real_tunes(meter: str, count: int) -> Iterator[pretty_midi.PrettyMIDI]:
    """Up to `count` tunes of the folk corpus written in `meter`, from its files in a fixed random order."""
    files = get_corpus("folk").files()
    random.Random(0).shuffle(files)
    found = 0
    for path in files:
        for source in piece_sources(path):
            try:
                pieces = read_source(source)
            except SeqgenError:
                continue
            for _, pm in pieces:
                if meter_of(pm) == meter:
                    yield pm
                    found += 1
                    if found == count:
                        return


def row(label: str, pieces: list[pretty_midi.PrettyMIDI], meter: str, key: int | None) -> str:
    fills = [bar_fill(piece_of(pm)) for pm in pieces]
    right = np.mean([meter_of(pm) == meter for pm in pieces])
    keys = [key_of_notes([n for inst in pm.instruments for n in inst.notes]) for pm in pieces]
    keyed = f"{np.mean([k == key for k in keys]):.0%}" if key is not None else "-"
    return (f"| {label} | {meter} | {len(pieces)} | {right:.0%} | {np.mean(fills):.1%} | "
            f"{np.mean([f == 1.0 for f in fills]):.0%} | {keyed} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", "--checkpoint", required=True, help="a metrical music checkpoint")
    ap.add_argument("--meter", action="append", required=True, help="a metre to ask for (repeatable)")
    ap.add_argument("--key", default=None, help="a key to ask for as well, e.g. D")
    ap.add_argument("--num", type=int, default=10, help="samples per metre (default 10)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-T", "--temperature", type=float, default=0.8)
    ap.add_argument("--real", type=int, default=30, help="real tunes per metre for reference (default 30; 0: none)")
    args = ap.parse_args()
    model = seqgen.load(args.checkpoint, device="cpu")
    key = parse_key(args.key) if args.key else None
    lines = ["| pieces | metre asked | count | written in it | inner bars filled | all bars filled | in key asked |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for meter in args.meter:
        samples = model.sample(num=args.num, temperature=args.temperature, seed=args.seed,
                               prime=Opening(meter=meter, key=args.key))
        samples = [pm for pm in samples if any(inst.notes for inst in pm.instruments)]
        lines.append(row(f"samples{f', key {args.key}' if args.key else ''}", samples, meter, key))
        if args.real:
            lines.append(row("real folk tunes", list(real_tunes(meter, args.real)), meter, None))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
