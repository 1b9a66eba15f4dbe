"""Musicality of sampled music beside real folk tunes: grid, key, density, repetition, range and intervals.

Real pieces are a fixed random sample of tunes from seqgen's `folk` corpus, read into notes the way seqgen
reads them for training (seqgen.domains.music.files: ABC through music21, repeats as written). Samples are
music files given with --samples, or pieces sampled from a music checkpoint with -c. With neither, a second,
disjoint set of real tunes stands in for the samples: the two should agree closely, which shows how much of a
difference is noise. `--expand-repeats` plays out the real tunes' repeat signs (AABB as heard): what the
repetition measures make of the form, though not what a model trained by seqgen has seen. `--through-codec`
reads the real tunes as a model sees and plays them (encoded and decoded by the checkpoint's codec, or the
note-event codec without -c; a metrical codec plays the repeats out): the most a model could reach. Prints a
side-by-side table, then one JSON object.

    python benchmarks/musicality.py                          # real against real
    python benchmarks/musicality.py --expand-repeats         # the same tunes with their repeats played out
    python benchmarks/musicality.py --through-codec -c /tmp/folk-tiny   # samples beside what a model could reach
    python benchmarks/musicality.py --samples out*.mid
    python benchmarks/musicality.py -c /tmp/folk-tiny --num 8 --seed 1
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import seqgen
from seqgen.codecs import Codec, NoteEventCodec
from seqgen.domains.music.domain import FOLK
from seqgen.domains.music.files import PieceSource, piece_sources, read_source, score_to_midi
from seqgen.domains.music.musicality import Comparison, Measures, compare, measure
from seqgen.errors import SeqgenError
from seqgen.midi import pretty_midi


def folk_sources(seed: int) -> list[PieceSource]:
    """Every tune of the folk corpus, shuffled with `seed` (listing them parses nothing)."""
    sources = [src for path in FOLK.files() for src in piece_sources(path)]
    random.Random(seed).shuffle(sources)
    return sources


def expanded(src: PieceSource) -> list[tuple[str, pretty_midi.PrettyMIDI]]:
    """An ABC tune with its repeats played out (music21's expandRepeats), as heard rather than as seqgen trains
    on it; other files as `read_source` reads them."""
    if src.text is None:
        return read_source(src)
    from music21 import converter

    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # music21 prints warnings
            warnings.simplefilter("ignore")
            score = converter.parseData(src.text, format="abc").expandRepeats()
    except Exception as e:
        raise SeqgenError(f"{src.name}: repeats not expandable ({type(e).__name__}: {e})") from None
    return [(src.name, score_to_midi(score, in_place=True))]


def reader(expand: bool, codec: Codec | None) -> Callable[[PieceSource], list[pretty_midi.PrettyMIDI]]:
    """How real tunes are read: as seqgen reads them, or with repeats played out, and then, with a `codec`,
    encoded and decoded by it (a metrical codec plays the repeat signs out itself), as a model trained on them
    would play them back if it reproduced them exactly."""

    def read(src: PieceSource) -> list[pretty_midi.PrettyMIDI]:
        pieces = [pm for _, pm in (expanded(src) if expand else read_source(src))]
        return [codec.decode(codec.encode_document(pm)) for pm in pieces] if codec is not None else pieces

    return read


def measure_sources(sources: Iterable[PieceSource], count: int | None, skipped: list[str],
                    read: Callable[[PieceSource], list[pretty_midi.PrettyMIDI]]) -> list[Measures]:
    """Measures of the first `count` pieces of `sources` (all when None) that `read` can read; unreadable ones
    go to `skipped` as "name: reason"."""
    out: list[Measures] = []
    for src in sources:
        try:
            out += [measure(pm) for pm in read(src)]
        except (SeqgenError, ValueError) as e:
            skipped.append(f"{src.name}: {e}" if isinstance(e, ValueError) else str(e))
        if count is not None and len(out) >= count:
            return out[:count]
    return out


def sampled(checkpoint: str, num: int, seed: int, temperature: float, length: int | None,
            skipped: list[str]) -> list[Measures]:
    """Measures of `num` pieces sampled from a music checkpoint (pieces without notes are skipped)."""
    model = seqgen.load(checkpoint, device="cpu")
    if model.domain != "music":
        raise SystemExit(f"{checkpoint} is a {model.domain} model, not a music model")
    out = []
    for i, pm in enumerate(model.sample(num=num, seed=seed, temperature=temperature, length=length), 1):
        try:
            out.append(measure(pm))
        except ValueError as e:
            skipped.append(f"sample {i}: {e}")
    return out


def table(result: Comparison, real_label: str, sample_label: str) -> str:
    """The comparison as aligned text rows."""
    lines = [f"{'measure':<20} {real_label:>10} {sample_label:>10} {'difference':>10}"]
    lines += [f"{r.measure:<20} {r.real:>10.3f} {r.sample:>10.3f} {r.difference:>+10.3f}" for r in result.rows]
    lines.append(f"{'interval overlap':<20} {result.interval_overlap:>32.3f}")
    lines.append(f"{'pitch-range overlap':<20} {result.pitch_range_overlap:>32.3f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = ap.add_mutually_exclusive_group()
    source.add_argument("--samples", nargs="+", metavar="FILE", help="sampled music files (.mid, .abc, ...)")
    source.add_argument("-c", "--checkpoint", help="a music checkpoint to sample from")
    ap.add_argument("--real", type=int, default=30, help="real tunes to measure (default 30)")
    ap.add_argument("--real-seed", type=int, default=0, help="which real tunes (default 0)")
    ap.add_argument("--expand-repeats", action="store_true",
                    help="play out the real tunes' repeat signs (seqgen trains on them as written)")
    ap.add_argument("--through-codec", action="store_true",
                    help="read the real tunes through a codec as a model sees them: -c's, else the note-event codec")
    ap.add_argument("--num", type=int, default=8, help="pieces to sample with -c (default 8)")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed with -c (default 0)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--length", type=int, help="events per sample with -c (default: the model's, 2000)")
    args = ap.parse_args()

    sources = iter(folk_sources(args.real_seed))
    skipped: list[str] = []
    codec = None
    if args.through_codec:
        codec = seqgen.load(args.checkpoint, device="cpu").codec if args.checkpoint else NoteEventCodec()
    read = reader(args.expand_repeats, codec)
    real = measure_sources(sources, args.real, skipped, read)
    if args.samples:
        label, what = "samples", [str(p) for p in args.samples]
        samples = measure_sources((s for p in args.samples for s in piece_sources(Path(p))), None, skipped,
                                   reader(expand=False, codec=None))
    elif args.checkpoint:
        label, what = "samples", [f"{args.checkpoint} (num {args.num}, seed {args.seed}, T {args.temperature})"]
        samples = sampled(args.checkpoint, args.num, args.seed, args.temperature, args.length, skipped)
    else:  # the next tunes of the same shuffle: disjoint from the first set
        label, what = "real-2", ["folk corpus, the next tunes of the same shuffle"]
        samples = measure_sources(sources, args.real, skipped, read)
    if not samples:
        raise SystemExit("no sample could be measured: " + "; ".join(skipped))
    result = compare(real, samples)
    written = ("repeats played out" if args.expand_repeats else "as written") + \
        (", through the codec" if args.through_codec else "")
    print(f"real: {len(real)} folk tunes (seed {args.real_seed}, {written}); {label}: {len(samples)} piece(s) from "
          f"{', '.join(what)}; {len(skipped)} skipped")
    print(table(result, "real", label))
    print(json.dumps({
        "real": {"pieces": len(real), "seed": args.real_seed, "expand_repeats": args.expand_repeats,
                 "through_codec": args.through_codec},
        "samples": {"pieces": len(samples), "from": what},
        "skipped": skipped,
        "rows": [r._asdict() for r in result.rows],
        "interval_overlap": result.interval_overlap,
        "pitch_range_overlap": result.pitch_range_overlap,
    }, indent=2))


if __name__ == "__main__":
    main()
