"""A trained checkpoint as a Python object: `Model.sample()` and `Model.score()` in its own domain.

A text model samples strings and scores texts; a music model samples `pretty_midi.PrettyMIDI` pieces and
scores music files. Both are the same language model over token ids; the codec makes the difference.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import torch

from seqgen.codecs import Codec
from seqgen.data import resolve_paths
from seqgen.errors import SeqgenError
from seqgen.models import SequenceModel
from seqgen.music import MUSIC_SUFFIXES, is_music_file, piece_sources, read_source
from seqgen.pieces import encode_file
from seqgen.sample import generate
from seqgen.score import LN2, ScoreResult, score_sequences
from seqgen.signals import read_recording

DEFAULT_LENGTH = {"text": 500, "music": 2000, "waveform": 16000}  # new tokens: characters, events, samples
# No end of piece before this many events (~100 notes): a model may take a phrase's close for the piece's
DEFAULT_MIN_LENGTH = {"text": 0, "music": 300}
MAX_NOTE_SECONDS = 5.0  # sampled notes held longer are ended: a forgotten NOTE_OFF must not drone to the end


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


@dataclass
class TextScore:
    """Score of one text: the ScoreResult plus what was scored."""

    text: str
    result: ScoreResult
    token_texts: list[str]
    unknown_chars: list[str]

    def to_dict(self, per_token: bool = False) -> dict[str, Any]:
        r = self.result
        d: dict[str, Any] = {
            "text": self.text, "tokens": r.tokens, "logprob": r.logprob, "log10prob": r.log10prob,
            "perplexity": r.perplexity, "bits_per_token": r.bits_per_token, "nll_per_token": r.nll_per_token,
        }
        if self.unknown_chars:
            d["unknown_chars"] = self.unknown_chars
        if per_token:
            d["token_texts"] = self.token_texts
            d["token_logprobs"] = r.token_logprobs
        return _finite(d)


@dataclass
class PieceScore:
    """Score of one piece of music: log P(events) in nats, per event and per second of music."""

    name: str
    result: ScoreResult
    seconds: float
    token_names: list[str]

    @property
    def nll_per_second(self) -> float:
        return -self.result.logprob / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self, per_token: bool = False) -> dict[str, Any]:
        r = self.result
        d: dict[str, Any] = {
            "piece": self.name, "events": r.tokens, "seconds": round(self.seconds, 3), "logprob": r.logprob,
            "nll_per_event": r.nll_per_token, "bits_per_event": r.bits_per_token,
            "nll_per_second": self.nll_per_second, "bits_per_second": self.nll_per_second / LN2,
        }
        if per_token:
            d["token_names"] = self.token_names
            d["token_logprobs"] = r.token_logprobs
        return _finite(d)


@dataclass
class WindowScore:
    """How surprising one window of a recording is to the model, in bits per sample, next to the surprise the
    model expected there (`expected_bits`: the mean entropy of its predictions). `excess_bits`, the difference,
    is the window's typicality: near 0 where the signal is as predictable as the model thinks, positive where
    its pattern breaks (noise, wander), negative where it is more regular than any signal the model knows
    (a flat line, a dropped beat: likelihood alone ranks those below clean windows, see tests/test_ecg.py)."""

    start: float
    end: float
    bits_per_sample: float
    anomaly: bool | None  # None when there is no threshold to compare with
    expected_bits: float | None = None

    @property
    def excess_bits(self) -> float | None:
        return None if self.expected_bits is None else self.bits_per_sample - self.expected_bits

    def to_dict(self) -> dict[str, Any]:
        d = {"start": round(self.start, 4), "end": round(self.end, 4),
             "bits_per_sample": round(self.bits_per_sample, 4), "anomaly": self.anomaly}
        if self.expected_bits is not None:
            d |= {"expected_bits": round(self.expected_bits, 4), "excess_bits": round(self.excess_bits, 4)}
        return d


def window_scores(logp: np.ndarray, rate: int, window: float, threshold: float | None,
                  entropy: np.ndarray | None = None) -> list[WindowScore]:
    """Mean surprise (bits) of per-sample log-probabilities `logp` (nats) over consecutive windows, with the
    mean of the per-sample predictive `entropy` (nats) as each window's expected bits when given."""
    size = max(1, int(round(window * rate)))
    out = []
    for start in range(0, len(logp), size):
        bits = float(-logp[start : start + size].mean() / LN2)
        flag = None if threshold is None else bits > threshold
        expected = None if entropy is None else float(entropy[start : start + size].mean() / LN2)
        out.append(WindowScore(start / rate, min(start + size, len(logp)) / rate, bits, flag, expected))
    return out


CALIBRATED_WINDOWS = (0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # seconds


def calibrate_anomaly(model: Model, val: np.ndarray) -> dict[str, Any]:
    """Anomaly thresholds from validation recordings, one per window length: the mean window surprise plus
    four standard deviations (clean windows rarely pass it; an artefact that breaks the signal's pattern
    does). Longer windows average more samples, so their spread and threshold are smaller; lengths with
    fewer than 8 validation windows are left out."""
    start = model.codec.start_ids[0]
    logps = [np.asarray(score_sequences(model.net, [piece[1:].tolist()], [start])[0].token_logprobs)
             for piece in np.split(val, np.where(val == start)[0][1:])]
    rows = []
    for size in CALIBRATED_WINDOWS:
        bits = np.asarray([w.bits_per_sample for lp in logps
                           for w in window_scores(lp, model.codec.sample_rate, size, None)
                           if w.end - w.start >= size * 0.999])
        if len(bits) >= 8:
            rows.append({"window_s": size, "threshold_bits": round(float(bits.mean() + 4 * bits.std()), 4),
                         "val_mean_bits": round(float(bits.mean()), 4), "val_std_bits": round(float(bits.std()), 4),
                         "val_windows": int(len(bits))})
    return {"windows": rows} if rows else {}


def calibrated_threshold(anomaly: dict[str, Any], window: float) -> float | None:
    """The threshold calibrated for the longest window not longer than `window` (a shorter window's spread is
    wider, so its threshold errs high rather than flagging clean signal); None when none fits."""
    fits = [row for row in anomaly.get("windows", []) if row["window_s"] <= window * 1.0001]
    return fits[-1]["threshold_bits"] if fits else None


class Model:
    """A trained checkpoint, ready to sample and score."""

    def __init__(self, path: Path, config: dict[str, Any], net: SequenceModel, codec: Codec, device: torch.device):
        self.path, self.config, self.net, self.codec, self.device = path, config, net, codec, device

    @property
    def domain(self) -> str:
        return self.codec.domain

    def _require(self, domain: str, what: str) -> None:
        if self.domain != domain:
            raise SeqgenError(f"{what} is for {domain} models; {self.path} is a {self.domain} model")

    # --- primers ------------------------------------------------------------------------------------
    def known_ids(self, text: str, option: str) -> list[int]:
        """Token ids of a text primer or stop string; unseen characters are an error, not silently <unk>."""
        self._require("text", option)
        bad = self.codec.unknown_chars(text)
        if bad:
            shown = ", ".join(repr(c) for c in bad[:10])
            raise SeqgenError(f"{option}: character(s) {shown} never occur in this model's training data")
        return self.codec.encode(text)

    def prime_ids(self, prime: str | Path | pretty_midi.PrettyMIDI | None) -> list[int]:
        """Token context for a primer: the codec's start context, then the primer (text, or for a music
        model a MIDI/score file or a PrettyMIDI)."""
        ids = list(self.codec.start_ids)
        if self.domain == "waveform" and prime is not None:
            ids += self.codec.encode(self.read_signal(prime))
        elif self.domain == "music" and prime is not None:
            ids += self.codec.encode(prime if isinstance(prime, pretty_midi.PrettyMIDI) else _read_piece(Path(prime)))
        elif prime:
            ids += self.known_ids(str(prime), "--prime")
        if not ids:
            raise SeqgenError("this model needs a --prime to start from (its vocabulary has no newline)")
        return ids

    # --- sampling -----------------------------------------------------------------------------------
    def sample_ids(self, num: int = 1, length: int | None = None, temperature: float = 1.0,
                   top_k: int | None = None, top_p: float | None = None,
                   prime: str | Path | pretty_midi.PrettyMIDI | None = None, seed: int | None = None,
                   stop: str | None = None, seconds: float | None = None,
                   min_length: int | None = None, int8: bool = False) -> tuple[list[int], list[list[int]]]:
        """The primer's token ids and `num` continuations of up to `length` new tokens each.

        `seconds` (music) caps each continuation's duration; `stop` (text) ends a sample at that string;
        no sample ends (at a stop or the model's end token) before `min_length` new tokens. `int8` steps with
        8-bit recurrent weights: CPU only, several times faster for models of 512 hidden units and up."""
        length = DEFAULT_LENGTH.get(self.domain, 500) if length is None else length
        min_length = DEFAULT_MIN_LENGTH.get(self.domain, 0) if min_length is None else min_length
        stops = [self.codec.end_ids] if self.codec.end_ids else []
        if stop:
            stops.append(self.known_ids(stop, "--stop"))
        if seconds is not None:
            if self.domain == "text":
                raise SeqgenError("--seconds is for music and waveform models; text counts --length characters")
            if not 0 < seconds < math.inf:
                raise SeqgenError(f"--seconds must be a positive number, got {seconds}")
            if self.domain == "waveform":  # one token per sample: the duration is a length
                length, seconds = int(round(seconds * self.codec.sample_rate)), None
        primer = self.prime_ids(prime)
        seed = secrets.randbits(31) if seed is None else seed
        costs = self.codec.token_seconds.tolist() if seconds is not None else None
        try:
            outs = generate(self.net, primer, length, num, temperature, top_k, top_p, seed,
                            banned=self.codec.special_ids + self._untrained_ids(), stops=stops, costs=costs,
                            budget=seconds, min_length=min_length, weights="int8" if int8 else "fp32")
        except ValueError as e:
            raise SeqgenError(str(e)) from None
        return primer, outs

    def sample(self, num: int = 1, length: int | None = None, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, prime: str | Path | pretty_midi.PrettyMIDI | None = None,
               seed: int | None = None, stop: str | None = None, seconds: float | None = None,
               min_length: int | None = None, max_note_seconds: float | None = MAX_NOTE_SECONDS,
               int8: bool = False) -> list[str] | list[pretty_midi.PrettyMIDI] | list[np.ndarray]:
        """`num` samples generated together, primer included: strings from a text model, PrettyMIDI pieces
        from a music model (notes held longer than `max_note_seconds` are ended), float sample arrays at the
        model's rate from a waveform model."""
        primer, outs = self.sample_ids(num, length, temperature, top_k, top_p, prime, seed, stop, seconds,
                                       min_length, int8)
        if self.domain == "text":
            return [(str(prime) if prime else "") + self.codec.decode(ids) for ids in outs]
        if self.domain == "waveform":
            return [self.codec.decode(primer + ids) for ids in outs]
        return [self.codec.decode(primer + ids, max_note_seconds) for ids in outs]

    def _untrained_ids(self) -> list[int]:
        """Notes outside the pitch range of the training data (transposition included): the model has never
        seen them, and a sample that wanders there has lost its way."""
        span = self.config.get("data", {}).get("pitch_range")
        if self.domain != "music" or not span:
            return []
        low, high = span
        return self.codec.pitch_ids([p for p in range(128) if not low <= p <= high])

    # --- scoring ------------------------------------------------------------------------------------
    def score(self, texts: str | Sequence[str], batch_size: int = 64, precision: str = "auto") -> list[TextScore]:
        """Log-probability of each text as a whole (with sentence boundaries: including its end); `precision`
        (auto, fp32, bf16; see seqgen.precision) is what the recurrent layers run in: auto takes bf16 where the
        hardware computes it natively (about twice as fast, log-probs within about 1 %), fp32 elsewhere."""
        self._require("text", "scoring texts")
        if isinstance(texts, str):
            texts = [texts]
        codec = self.codec
        seqs = [codec.encode(t) + list(codec.end_ids) for t in texts]
        results = score_sequences(self.net, seqs, codec.start_ids, batch_size=batch_size, precision=precision)
        out = []
        for t, seq, r in zip(texts, seqs, results, strict=True):
            shown = [codec.token_name(i) for i in seq]
            skipped = len(shown) - r.tokens
            out.append(TextScore(t, r, shown[skipped:], codec.unknown_chars(t)))
        return out

    def score_music(self, paths: Sequence[str | Path], batch_size: int = 16,
                    precision: str = "auto") -> tuple[list[PieceScore], list[str]]:
        """Score every piece in music files or folders as a whole piece (start to end), and list the
        pieces that could not be read ("name: reason"); `precision` as in `score`."""
        self._require("music", "scoring music files")
        files = resolve_paths(paths)
        other = [f for f in files if not is_music_file(f)]
        if other:
            raise SeqgenError(f"{other[0]}: not a music file (music files end in {', '.join(MUSIC_SUFFIXES)})")
        names, seqs, skipped = [], [], []
        for f in files:
            pieces = encode_file(f, self.codec)
            names += pieces.names
            seqs += [t.tolist() + list(self.codec.end_ids) for t in pieces.tokens]
            skipped += pieces.skipped
        if not seqs:
            raise SeqgenError(f"nothing to score: {skipped[0] if skipped else 'no music files given'}")
        results = score_sequences(self.net, seqs, self.codec.start_ids, batch_size=batch_size, precision=precision)
        scores = [PieceScore(n, r, self.codec.seconds(s), [self.codec.token_name(i) for i in s])
                  for n, s, r in zip(names, seqs, results, strict=True)]
        return scores, skipped

    def read_signal(self, path: str | Path) -> np.ndarray:
        """A recording read the way the training data was and resampled to the model's rate."""
        self._require("waveform", "reading recordings")
        recording = read_recording(Path(path), **self.config.get("data", {}).get("read_options", {}))
        return self.codec.resample(recording.samples, int(round(recording.sample_rate)))

    def score_windows(self, path: str | Path, window: float = 1.0,
                      threshold: float | None = None) -> list[WindowScore]:
        """Bits per sample of a recording in consecutive windows of `window` seconds, each flagged as an
        anomaly when above `threshold` (default: the one calibrated on validation data at training time)."""
        return self.score_signal(self.read_signal(path), window, threshold)

    def score_signal(self, samples: np.ndarray, window: float = 1.0,
                     threshold: float | None = None) -> list[WindowScore]:
        """`score_windows` of samples already at the model's rate (see `read_signal`)."""
        self._require("waveform", "window scoring")
        if not 0 < window < math.inf:
            raise SeqgenError(f"--window must be a positive number of seconds, got {window}")
        scored = score_sequences(self.net, [self.codec.encode(samples)], self.codec.start_ids, entropies=True)[0]
        if threshold is None:
            threshold = self.anomaly_threshold(window)
        return window_scores(np.asarray(scored.token_logprobs), self.codec.sample_rate, window, threshold,
                             np.asarray(scored.token_entropies))

    def anomaly_threshold(self, window: float) -> float | None:
        """The bits-per-sample threshold calibrated at training time for windows of `window` seconds."""
        return calibrated_threshold(self.config.get("anomaly", {}), window)

    def info(self) -> dict[str, Any]:
        """What the checkpoint is: domain, codec, model, data and training progress."""
        c = self.config
        return {
            "path": str(self.path), "domain": c.get("domain"), "codec": self.codec.describe(),
            "vocab_size": self.codec.vocab_size, "model": c["model"], "parameters": self.net.num_parameters(),
            "data": c.get("data", {}), "train": c.get("train", {}), "progress": c.get("progress", {}),
            "created": c.get("created"), "seqgen_version": c.get("seqgen_version"),
        }


def _read_piece(path: Path) -> pretty_midi.PrettyMIDI:
    """The first piece of a music file, as a primer."""
    if not path.is_file():
        raise SeqgenError(f"{path}: no such file")
    if not is_music_file(path):
        raise SeqgenError(f"{path}: not a music file (music files end in {', '.join(MUSIC_SUFFIXES)})")
    sources = piece_sources(path)
    if not sources:
        raise SeqgenError(f"{path}: holds no music")
    return read_source(sources[0])[0][1]
