"""The waveform domain: which files it reads and how (rate, channel, column, gaps), the μ-law codec's options,
recordings as primers, signals written as audio/CSV/.npy/PNG, recordings scored window by window against the
anomaly thresholds calibrated after training."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seqgen.codecs import Codec, MuLawCodec
from seqgen.config import Option
from seqgen.domains.base import (
    Domain,
    Inputs,
    ReadSettings,
    Report,
    SampleRequest,
    SampleRun,
    ScoreRequest,
    TrainingData,
    check_seconds,
    default_of,
    numbered,
)
from seqgen.domains.waveform.anomaly import (
    WindowScore,
    calibrate_anomaly,
    calibrated_threshold,
    sample_logprobs_and_entropies,
    window_scores,
)
from seqgen.domains.waveform.data import AUDIO_RATE, read_waveform_data
from seqgen.domains.waveform.protocol import SampleCodec
from seqgen.domains.waveform.signals import WAVEFORM_SUFFIXES, check_signal_path, read_recording, write_recording
from seqgen.errors import SeqgenError

if TYPE_CHECKING:
    from seqgen.trained import Model


DEFAULT_WINDOW_S = 1.0  # seconds per scored window: about one heartbeat of an ECG


class WaveformDomain(Domain):
    """Sample-level models of recorded signals."""

    name = MuLawCodec.domain
    plural = "waveforms"
    suffixes = WAVEFORM_SUFFIXES
    options = (
        Option("rate", int, "The model's sample rate; recordings are resampled to it.", low=1,
               default_text=f"audio min(native, {AUDIO_RATE}), signals native", domain=name, role="codec"),
        Option("bits", int, "mu-law levels are 2**bits.", default_of(MuLawCodec, "bits"), low=2, high=16, domain=name,
               role="codec"),
        Option("sample_rate", float, "The rate of files that do not say theirs (.npy, CSV without a time column).",
               low=0, low_open=True, domain=name, role="read"),
        Option("channel", (int, str), "Channel index, or a WFDB signal name (e.g. MLII).",
               default_text="audio: mono mix-down; signals: the first channel", domain=name, role="read"),
        Option("column", str, "CSV column name or 0-based index.", default_text="the first non-time column",
               domain=name, role="read"),
        Option("gaps", str, "What to do with NaN/inf stretches (flat lines are reported).",
               default_of(read_recording, "gaps"), choices=("interpolate", "skip", "error"), domain=name,
               role="read"),
    )
    default_length = 16000  # samples
    page_views = ("signals",)
    flag_help = {"sample": "A waveform model writes --wav, --out (.csv, .npy, audio) and --plot.",
                 "sample --out": "each sample as .csv (time, value), .npy, or audio (.wav .flac .ogg)",
                 "score --window": f"seconds per scored window  [default: {DEFAULT_WINDOW_S:g}]",
                 "score --threshold": "bits per sample above which a window is an anomaly  [default: calibrated "
                                      "on validation data at training time for this --window]"}

    def read_data(self, inputs: Inputs, codec: Codec | None, settings: ReadSettings) -> TrainingData:
        return read_waveform_data(inputs, codec, settings)

    def after_training(self, load: Callable[[], Model], val: np.ndarray) -> dict[str, Any]:
        """The anomaly thresholds, measured with the run's best weights on its validation tails."""
        if len(val) <= 1:
            return {}
        model = load()
        return {"anomaly": calibrate_anomaly(model.net, model.codec, val)}

    # --- reading and scoring recordings -------------------------------------------------------------
    def read_signal(self, model: Model, path: str | Path) -> np.ndarray:
        """A recording read the way the training data was and resampled to the model's rate."""
        recording = read_recording(Path(path), **model.config.get("data", {}).get("read_options", {}))
        codec: SampleCodec = model.codec
        return codec.resample(recording.samples, int(round(recording.sample_rate)))

    def score_signal(self, model: Model, samples: np.ndarray, window: float = 1.0,
                     threshold: float | None = None) -> list[WindowScore]:
        """Bits per sample of samples at the model's rate in windows of `window` seconds, flagged above
        `threshold` (default: the one calibrated at training time)."""
        if not 0 < window < math.inf:
            raise SeqgenError(f"--window must be a positive number of seconds, got {window}")
        codec: SampleCodec = model.codec
        logp, entropy = sample_logprobs_and_entropies(model.net, codec, samples)
        if threshold is None:
            threshold = self.anomaly_threshold(model, window)
        return window_scores(logp, codec.sample_rate, window, threshold, entropy)

    def anomaly_threshold(self, model: Model, window: float) -> float | None:
        """The bits-per-sample threshold calibrated at training time for windows of `window` seconds."""
        return calibrated_threshold(model.config.get("anomaly", {}), window)

    def score_request(self, model: Model, request: ScoreRequest, report: Report) -> None:
        from seqgen.render import plot_signal

        if request.files or request.document or not request.items:
            raise SeqgenError("a waveform model scores recordings given as arguments: seqgen score -c CKPT rec.csv")
        if request.precision not in ("auto", "fp32"):
            raise SeqgenError(f"--precision {request.precision} is for text and music; waveform thresholds are "
                              "calibrated in fp32")
        paths, plot = request.items, request.plot
        window = DEFAULT_WINDOW_S if request.window is None else request.window
        for i, path in enumerate(paths, 1):
            samples = self.read_signal(model, path)
            windows = self.score_signal(model, samples, window, request.threshold)
            if plot is not None:
                limit = request.threshold if request.threshold is not None else self.anomaly_threshold(model, window)
                target = plot if len(paths) == 1 else plot.with_name(f"{plot.stem}-{i}{plot.suffix}")
                plot_signal(samples, model.codec.sample_rate, target, title=path, threshold=limit,
                            windows=[(w.start, w.end, w.bits_per_sample, w.anomaly) for w in windows])
            for w in windows:
                if request.as_json:
                    report.show(json.dumps({"file": path, **w.to_dict()}))
                else:
                    flag = "  ANOMALY" if w.anomaly else ""
                    report.show(f"{path}  {w.start:9.2f}-{w.end:9.2f} s  bits/sample {w.bits_per_sample:6.3f}  "
                                f"excess {w.excess_bits:+6.3f}{flag}")
            if not request.as_json:
                flagged = sum(bool(w.anomaly) for w in windows)
                limited = windows[0].anomaly is not None if windows else False
                report.note(f"{path}: {flagged} of {len(windows)} window(s) above the threshold" if limited else
                            f"{path}: no threshold (give --threshold BITS)")

    # --- sampling -----------------------------------------------------------------------------------
    def primer_ids(self, model: Model, prime: Any) -> list[int]:
        """A recording, read and resampled like the training data, as levels."""
        return [] if prime is None else model.codec.encode(self.read_signal(model, prime))

    def sample_limit(self, codec: Codec, length: int, seconds: float,
                     options: Mapping[str, Any] | None = None) -> tuple[int, list[float] | None, float | None]:
        """One token per sample: a duration is a length."""
        check_seconds(seconds)
        rate = codec.sample_rate
        return int(round(seconds * rate)), None, None

    def decode_samples(self, codec: Codec, prime: Any, primer: list[int], outs: list[list[int]],
                       **options: Any) -> list[np.ndarray]:
        """Float sample arrays at the model's rate, primer included."""
        return [codec.decode(primer + ids) for ids in outs]

    def check_sample_request(self, model: Model, request: SampleRequest) -> None:
        if request.wants("midi"):
            raise SeqgenError("--midi is for music models; a waveform model writes --wav, --out or --plot")
        if not request.wants("wav", "out", "plot"):
            raise SeqgenError(f"{model.path} is a waveform model: give --wav OUT.wav, --out OUT.csv|.npy "
                              "and/or --plot OUT.png")
        for name in ("wav", "out"):
            path = request.outputs.get(name)
            if path is not None:
                check_signal_path(path)

    def write_samples(self, model: Model, request: SampleRequest, run: SampleRun, report: Report) -> None:
        """Write each signal to --wav and --out, draw it with --plot."""
        from seqgen.render import plot_signal

        num, outputs = request.num, request.outputs
        rate = model.codec.sample_rate
        primer_s = (len(run.primer) - len(model.codec.start_ids)) / rate if request.prime else None
        for i, x in enumerate(run.samples, 1):
            files = [numbered(p, i, num) for p in (outputs.get("wav"), outputs.get("out")) if p is not None]
            for path in files:
                write_recording(path, x, rate)
            plot = outputs.get("plot")
            if plot is not None:
                files.append(numbered(plot, i, num))
                plot_signal(x, rate, files[-1], title=f"sample {i}", primer_seconds=primer_s)
            record = {"index": i, "seed": run.seed, "samples": len(x), "seconds": round(len(x) / rate, 3),
                      "files": [str(p) for p in files]}
            report.show(json.dumps(record) if request.as_json else
                        f"sample {i}: {len(x):,} samples, {len(x) / rate:.2f} s at {rate} Hz -> "
                        f"{', '.join(record['files'])}")
        generated = sum(len(x) for x in run.samples) / rate
        report.note(f"generated {generated:.2f} s of signal in {run.took:.2f} s "
                    f"({generated / run.took:.2f} s per second)")


WAVEFORM = WaveformDomain()
