"""How a freshly trained music model's samples compare with the pieces its training held out, on the musicality
measures (grid, key, density, repetition): measured once when training ends, kept in config.json, shown by
`seqgen info`, so a user sees whether a model keeps the beat and comes back to its phrases before listening."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from seqgen.domains.music.musicality import Measures, compare, measure

if TYPE_CHECKING:
    from seqgen.trained import Model

SAMPLES = 8  # drawn together in one batch: a second or two on a CPU for the default model
HELD_OUT = 30  # the first held-out pieces (a fixed random choice of the data: see data.split_pieces)
SEED, TEMPERATURE = 0, 0.8  # `seqgen sample`'s default temperature

# The measures shown, as `seqgen info` names them, and how each is written
SHOWN = (("grid_share", "on the 16th grid", "{:.0%}"), ("key_share", "in key", "{:.0%}"),
         ("note_density", "notes/s", "{:.2f}"), ("figure_repetition", "figures recur", "{:.0%}"),
         ("phrase_repetition", "bars recur", "{:.0%}"))


def musicality_check(model: Model, val: np.ndarray) -> dict[str, Any]:
    """Means of the musicality measures over up to HELD_OUT held-out pieces (decoded, repeats played out, as
    samples are) and SAMPLES samples, and the overlap of their interval and pitch-range histograms; {} when either
    side has no notes to measure."""
    codec = model.codec
    starts = np.where(np.asarray(val) == codec.start_ids[0])[0]
    pieces = [p for p in np.split(np.asarray(val), starts) if len(p) > 1][:HELD_OUT]
    real = _measured(codec.decode(p.tolist()) for p in pieces)
    sampled = _measured(model.sample(num=SAMPLES, temperature=TEMPERATURE, seed=SEED))
    if not real or not sampled:
        return {}
    c = compare(real, sampled)
    return {"held_out": len(real), "samples": len(sampled), "seed": SEED, "temperature": TEMPERATURE,
            "real": {r.measure: round(r.real, 4) for r in c.rows},
            "sample": {r.measure: round(r.sample, 4) for r in c.rows},
            "interval_overlap": round(c.interval_overlap, 4), "pitch_range_overlap": round(c.pitch_range_overlap, 4)}


def musicality_rows(check: dict[str, Any]) -> list[tuple[str, str]]:
    """`seqgen info` rows: held-out pieces beside samples, measure by measure."""
    if not check:
        return []
    real, sample = check["real"], check["sample"]
    pairs = "; ".join(f"{label} {fmt.format(real[name])} / {fmt.format(sample[name])}" for name, label, fmt in SHOWN)
    return [("musicality", f"{check['held_out']} held-out pieces / {check['samples']} samples (seed {check['seed']}, "
                           f"T {check['temperature']}): {pairs}")]


def _measured(pieces: Any) -> list[Measures]:
    out = []
    for pm in pieces:
        try:
            out.append(measure(pm))
        except ValueError:  # no notes
            continue
    return out
