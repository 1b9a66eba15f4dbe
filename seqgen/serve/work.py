"""Each view's work, done in the worker thread through the `Model` API and the domain's own writers: results as
JSON-ready dicts, files written into the job's folder (named there, served by the app)."""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqgen.choices import MAX_NOTE_SECONDS
from seqgen.domains.base import Report, SampleRequest, SampleRun, finite
from seqgen.serve.jobs import Job
from seqgen.serve.limits import Limits

if TYPE_CHECKING:
    from seqgen.trained import Model

LN2 = math.log(2)
FILE_KINDS = {".mid": "midi", ".wav": "audio", ".png": "image"}  # what the page does with each written file


@dataclass(frozen=True)
class Sampling:
    """What a compose or write request asks of the sampler (checked against the limits before any work)."""

    num: int = 1
    length: int | None = None
    seconds: float | None = None
    temperature: float = 0.9
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None

    def chosen_seed(self) -> int:
        """The seed given, else a fresh one; shown on the page so the samples can be made again."""
        return secrets.randbits(31) if self.seed is None else self.seed


def compose(model: Model, job: Job, sampling: Sampling, opening: Path | None, out: Path) -> dict[str, Any]:
    """Samples of a model whose domain writes files (MIDI, WAV, piano roll with the opening marked), written into
    `out` by the domain's `write_samples`; the records say which file is which."""
    request = SampleRequest(sampling.num, None, opening,
                            {"midi": out / "sample.mid", "wav": out / "sample.wav", "plot": out / "sample.png"},
                            MAX_NOTE_SECONDS, as_json=True)
    model.home.check_sample_request(model, request)
    prime = model.home.sample_prime(request)
    seed = sampling.chosen_seed()
    start = time.perf_counter()
    primer, outs = model.sample_ids(sampling.num, sampling.length, sampling.temperature, sampling.top_k,
                                    sampling.top_p, prime, seed, seconds=sampling.seconds,
                                    on_step=lambda ids: job.step())
    samples = model.home.decode_samples(model.codec, prime, primer, outs, max_note_seconds=MAX_NOTE_SECONDS)
    shown: list[str] = []
    notes: list[str] = []
    model.home.write_samples(model, request, SampleRun(seed, primer, outs, samples, time.perf_counter() - start),
                             Report(show=shown.append, note=notes.append))
    records = [json.loads(line) for line in shown]
    for r in records:
        r["files"] = {FILE_KINDS.get(Path(f).suffix, Path(f).suffix[1:]): Path(f).name for f in r.get("files", [])}
    return {"seed": seed, "samples": records, "notes": notes, "seconds": round(time.perf_counter() - start, 2)}


def write(model: Model, job: Job, sampling: Sampling, prime: str, stop: str,
          emit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Samples as text, each step's new tokens handed to `emit` as they are drawn (None for a sample that has
    ended); the finished samples (a stop string cut off) are returned."""
    seed = sampling.chosen_seed()
    decode = model.codec.decode

    def on_step(ids: list[int | None]) -> None:
        job.step()
        emit({"step": job.done, "pieces": [None if i is None else decode([i]) for i in ids]})

    emit({"seed": seed, "prime": prime})
    primer, outs = model.sample_ids(sampling.num, sampling.length, sampling.temperature, sampling.top_k,
                                    sampling.top_p, prime or None, seed, stop or None, on_step=on_step)
    return {"seed": seed, "samples": model.home.decode_samples(model.codec, prime or None, primer, outs)}


def score(model: Model, lines: list[str]) -> list[dict[str, Any]]:
    """Each line scored whole: log-probability (nats), perplexity, bits per token, and every token with its
    surprisal in bits (-log2 P), which the page colours."""
    results = []
    for s in model.score(lines):
        r = s.result
        tokens = [{"token": t, "bits": round(-lp / LN2, 3)}
                  for t, lp in zip(s.token_texts, r.token_logprobs, strict=True)]
        results.append(finite({"line": s.text, "tokens": r.tokens, "logprob": r.logprob, "perplexity": r.perplexity,
                               "bits_per_token": r.bits_per_token}) | {"surprisal": tokens,
                                                                        "unknown_chars": s.unknown_chars})
    return results


def signal(model: Model, recording: Path, window: float, limits: Limits, out: Path) -> dict[str, Any]:
    """A recording scored window by window: the signal drawn with each window's bits per sample under it and the
    flagged windows marked (signal.png in `out`), and the windows themselves."""
    from seqgen.render import plot_signal

    samples = model.read_signal(recording)
    rate = model.codec.sample_rate
    limits.check_signal(len(samples), rate)
    windows = model.score_signal(samples, window)
    threshold = model.anomaly_threshold(window)
    plot_signal(samples, rate, out / "signal.png", title=recording.name, threshold=threshold,
                windows=[(w.start, w.end, w.bits_per_sample, w.anomaly) for w in windows])
    return {"file": recording.name, "seconds": round(len(samples) / rate, 3), "rate": rate, "threshold": threshold,
            "windows": [w.to_dict() for w in windows], "flagged": sum(bool(w.anomaly) for w in windows),
            "image": "signal.png"}
