"""A trained checkpoint as a Python object: `Model.sample()` and `Model.score()` in its own domain.

A text model samples strings and scores texts; a music model samples `pretty_midi.PrettyMIDI` pieces and
scores music files; a waveform model samples signals and scores recordings window by window. All are the same
language model over token ids; the codec and the domain (seqgen.domains) make the difference.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from seqgen import domains
from seqgen.codecs import Codec
from seqgen.domains.base import Domain
from seqgen.errors import SeqgenError
from seqgen.models import SequenceModel
from seqgen.sample import generate

if TYPE_CHECKING:
    from seqgen.domains.music.scoring import PieceScore
    from seqgen.domains.text.scoring import TextScore
    from seqgen.domains.waveform.anomaly import WindowScore


class Model:
    """A trained checkpoint, ready to sample and score."""

    def __init__(self, path: Path, config: dict[str, Any], net: SequenceModel, codec: Codec, device: torch.device):
        self.path, self.config, self.net, self.codec, self.device = path, config, net, codec, device
        self.home: Domain = domains.get(codec.domain)

    @property
    def domain(self) -> str:
        return self.codec.domain

    def _needs(self, capability: str, what: str) -> Callable[..., Any]:
        """The domain's method of that name; a SeqgenError naming the domains that have one when this lacks it."""
        method = getattr(self.home, capability, None)
        if method is None:
            raise SeqgenError(f"{what} is for {domains.having(capability)} models; {self.path} is a "
                              f"{self.domain} model")
        return method

    # --- primers ------------------------------------------------------------------------------------
    def known_ids(self, text: str, option: str) -> list[int]:
        """Token ids of a text primer or stop string; unseen characters are an error, not silently <unk>."""
        return self._needs("known_ids", option)(self.codec, text, option)

    def prime_ids(self, prime: Any) -> list[int]:
        """Token context for a primer: the codec's start context, then the primer as the domain reads it (text;
        a MIDI/score file or a PrettyMIDI; a recording)."""
        ids = list(self.codec.start_ids) + self.home.primer_ids(self, prime)
        if not ids:
            raise SeqgenError("this model needs a --prime to start from (its vocabulary has no newline)")
        return ids

    # --- sampling -----------------------------------------------------------------------------------
    def sample_ids(self, num: int = 1, length: int | None = None, temperature: float = 1.0,
                   top_k: int | None = None, top_p: float | None = None, prime: Any = None, seed: int | None = None,
                   stop: str | None = None, seconds: float | None = None,
                   min_length: int | None = None, int8: bool = False,
                   on_step: Callable[[list[int | None]], None] | None = None,
                   grammar: bool = True,
                   options: Mapping[str, Any] | None = None) -> tuple[list[int], list[list[int]]]:
        """The primer's token ids and `num` continuations of up to `length` new tokens each.

        `seconds` (music, waveforms) caps each continuation's duration; `stop` (text) ends a sample at that
        string; no sample ends (at a stop or the model's end token) before `min_length` new tokens. `int8` steps
        with 8-bit recurrent weights: CPU only, several times faster for models of 512 hidden units and up.
        `on_step` is called with each step's drawn ids (see seqgen.sample.generate). With `grammar` (the default)
        a codec that has a token grammar (music's metrical tokens) gets only samples that follow it; False draws
        from the model's distribution as it is. `options` are those the samples will be decoded with (a music
        model's tempo), which `seconds` counts at."""
        length = self.home.default_length if length is None else length
        min_length = self.home.min_length(self.codec) if min_length is None else min_length
        stops = [self.codec.end_ids] if self.codec.end_ids else []
        if stop:
            stops.append(self.known_ids(stop, "--stop"))
        costs, budget = None, None
        if seconds is not None:
            length, costs, budget = self.home.sample_limit(self.codec, length, seconds, options)
        primer = self.prime_ids(prime)
        seed = secrets.randbits(31) if seed is None else seed
        try:
            outs = generate(self.net, primer, length, num, temperature, top_k, top_p, seed,
                            banned=self.codec.special_ids + self.home.untrained_ids(self.codec, self.config)
                            + self.home.prime_bans(self.codec, prime),
                            stops=stops, costs=costs, budget=budget, min_length=min_length,
                            weights="int8" if int8 else "fp32", on_step=on_step,
                            grammar=self.codec.grammar() if grammar else None)
        except ValueError as e:
            raise SeqgenError(str(e)) from None
        return primer, outs

    def sample(self, num: int = 1, length: int | None = None, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, prime: Any = None, seed: int | None = None, stop: str | None = None,
               seconds: float | None = None, min_length: int | None = None, int8: bool = False,
               grammar: bool = True, **options: Any) -> list[Any]:
        """`num` samples generated together, primer included: strings from a text model, PrettyMIDI pieces
        from a music model (notes held longer than `max_note_seconds`, default 5 s, are ended), float sample
        arrays at the model's rate from a waveform model. `options` go to the domain's decoding."""
        primer, outs = self.sample_ids(num, length, temperature, top_k, top_p, prime, seed, stop, seconds,
                                       min_length, int8, grammar=grammar, options=options)
        return self.home.decode_samples(self.codec, prime, primer, outs, **options)

    # --- scoring ------------------------------------------------------------------------------------
    def score(self, texts: str | Sequence[str], batch_size: int = 64, precision: str = "auto") -> list[TextScore]:
        """Log-probability of each text as a whole (with sentence boundaries: including its end; a DNA model scores
        each as a record of bases, its end included); `precision` (auto, fp32, bf16; see seqgen.precision) is what the
        recurrent layers run in: auto takes bf16 where the hardware computes it natively (about twice as fast,
        log-probs within about 1 %), fp32 elsewhere."""
        return self._needs("score_texts", "scoring texts")(self, texts, batch_size, precision)

    def score_music(self, paths: Sequence[str | Path], batch_size: int = 16,
                    precision: str = "auto") -> tuple[list[PieceScore], list[str]]:
        """Score every piece in music files or folders as a whole piece (start to end), and list the
        pieces that could not be read ("name: reason"); `precision` as in `score`."""
        return self._needs("score_files", "scoring music files")(self, paths, batch_size, precision)

    def read_signal(self, path: str | Path) -> np.ndarray:
        """A recording read the way the training data was and resampled to the model's rate."""
        return self._needs("read_signal", "reading recordings")(self, path)

    def score_windows(self, path: str | Path, window: float = 1.0,
                      threshold: float | None = None) -> list[WindowScore]:
        """Bits per sample of a recording in consecutive windows of `window` seconds, each flagged as an
        anomaly when above `threshold` (default: the one calibrated on validation data at training time)."""
        return self.score_signal(self.read_signal(path), window, threshold)

    def score_signal(self, samples: np.ndarray, window: float = 1.0,
                     threshold: float | None = None) -> list[WindowScore]:
        """`score_windows` of samples already at the model's rate (see `read_signal`)."""
        return self._needs("score_signal", "window scoring")(self, samples, window, threshold)

    def anomaly_threshold(self, window: float) -> float | None:
        """The bits-per-sample threshold calibrated at training time for windows of `window` seconds."""
        return self._needs("anomaly_threshold", "anomaly thresholds")(self, window)

    def info(self) -> dict[str, Any]:
        """What the checkpoint is: domain, codec, model, data and training progress."""
        c = self.config
        return {
            "path": str(self.path), "domain": c.get("domain"), "codec": self.codec.describe(),
            "vocab_size": self.codec.vocab_size, "model": c["model"], "parameters": self.net.num_parameters(),
            "data": c.get("data", {}), "train": c.get("train", {}), "progress": c.get("progress", {}),
            "created": c.get("created"), "seqgen_version": c.get("seqgen_version"),
            "settings_from": c.get("settings_from", {}), "from": c.get("from"),
        }
