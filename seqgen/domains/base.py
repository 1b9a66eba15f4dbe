"""The domain interface: everything that differs between text, music, waveforms, ... sits behind one `Domain`.

A domain says which files it claims, how its codec is built or fitted, how DATA becomes training and validation
token streams, what a primer is, how sampled ids become the user's objects and files, how it scores its records,
what runs after training and what `info` shows. The model, trainer, sampler, scorer, checkpoint, API and CLI
ask the domain; they never compare domain names. A face (the CLI) hands in `Report` callbacks: the library
never prints.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from seqgen.codecs import Codec
from seqgen.config import Option
from seqgen.errors import SeqgenError
from seqgen.precision import decide

if TYPE_CHECKING:
    import torch

    from seqgen.corpora import Corpus
    from seqgen.sample import Costs
    from seqgen.trained import Model

FileProgress = Callable[[int, int], None]  # (files done, files in all)
TokenStream = np.ndarray | Callable[[int], np.ndarray]  # one fixed stream, or the stream of a given epoch


@dataclass
class Inputs:
    """DATA sorted out: the corpora named, the files found, and the name of the domain they make up."""

    domain: str
    corpora: list[Corpus]
    files: list[Path]
    ignored: list[Path]
    searched: bool = False  # whether files were found in folders or by glob patterns (not named one by one)


@dataclass(frozen=True)
class ReadSettings:
    """How DATA is read: the validation share and the options a domain may take (others are refused before)."""

    val_fraction: float
    boundaries: bool = False  # text: lines as <bos> ... <eos> sentences
    transpose: int = 0  # music: random transposition per piece and epoch
    seed: int = 0
    max_files: int | None = None
    on_files: FileProgress | None = None
    codec_options: dict[str, Any] = field(default_factory=dict)
    read_options: dict[str, Any] = field(default_factory=dict)
    grow_vocabulary: bool = False  # a fine-tune of a text model: characters its codec lacks join the vocabulary


@dataclass
class TrainingData:
    """What the trainer needs: the codec, training and validation tokens, a summary for the checkpoint."""

    codec: Codec
    train: TokenStream
    val: np.ndarray
    summary: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # things the user should hear about (skipped pieces)


@dataclass(frozen=True)
class Report:
    """Where a domain's results and remarks go: `show` for results (a CLI's stdout), `note` for remarks (stderr)."""

    show: Callable[[str], None]
    note: Callable[[str], None]


@dataclass(frozen=True)
class SampleRequest:
    """What `seqgen sample` was asked for: the primers and the output files (None when not given)."""

    num: int
    prime: str | None = None
    prime_file: Path | None = None  # a music model's --prime-midi
    outputs: dict[str, Path | None] = field(default_factory=dict)  # "midi", "wav", "plot", "out"
    max_note_seconds: float | None = None
    as_json: bool = False
    asked: dict[str, Any] = field(default_factory=dict)  # what a new piece is asked to be: {"meter": "6/8", ...}

    def wants(self, *names: str) -> bool:
        """Whether any of these outputs was asked for."""
        return any(self.outputs.get(n) is not None for n in names)


@dataclass
class SampleRun:
    """What sampling produced: the seed, the primer's ids, the decoded samples and the seconds it took."""

    seed: int
    primer: list[int]
    outs: list[list[int]]
    samples: list[Any]
    took: float


@dataclass(frozen=True)
class ScoreRequest:
    """What `seqgen score` was asked for: positional items (texts or files), --file inputs, and options."""

    items: tuple[str, ...]
    files: tuple[str, ...] = ()
    document: bool = False
    per_token: bool = False
    as_json: bool = False
    batch_size: int = 64
    precision: str = "auto"
    window: float | None = None  # the domain's default when None
    threshold: float | None = None
    plot: Path | None = None
    read_stdin: Callable[[], str] = str


def scoring_precision(request: ScoreRequest, device: torch.device, report: Report) -> str:
    """The precision a score request runs in on `device` (see seqgen.precision); an explicit bf16 that the
    hardware only emulates still runs, its warning given as a note."""
    decision = decide(request.precision, device)
    if decision.warning:
        report.note(f"seqgen: warning: {decision.warning}")
    return decision.chosen


def default_of(cls: type, name: str) -> Any:
    """The default of a constructor argument: a domain's option default is its codec's own, stated once."""
    return inspect.signature(cls).parameters[name].default


def numbered(path: Path, i: int, num: int) -> Path:
    """OUT.mid for a single sample; OUT-1.mid ... OUT-N.mid for several."""
    return path if num == 1 else path.with_name(f"{path.stem}-{i}{path.suffix}")


def check_seconds(seconds: float) -> None:
    """A --seconds cap must be a positive, finite duration."""
    if not 0 < seconds < math.inf:
        raise SeqgenError(f"--seconds must be a positive number, got {seconds}")


class Domain(ABC):
    """One kind of data (text, music, waveforms, ...): everything about it that is not the shared model."""

    name: ClassVar[str]  # as its codecs' `domain`; stored in checkpoints
    plural: ClassVar[str]  # in messages: "mixes music and waveforms"
    suffixes: ClassVar[tuple[str, ...]] = ()  # file names it claims (lower case); none for the fallback domain
    options: ClassVar[tuple[Option, ...]] = ()  # its settings: role "codec" builds its codec, "read" reads files
    data_flags: ClassVar[tuple[str, ...]] = ()  # CLI flags only it takes: "sentences", "transpose"
    default_length: ClassVar[int] = 500  # new tokens per sample
    default_min_length: ClassVar[int] = 0  # no sample ends before this many new tokens
    documents_word: ClassVar[str] = "document(s)"  # what `info` calls its training documents
    # What shared command-line flags mean for it, by "COMMAND --flag" ("sample" alone: a sentence on what its
    # samples become), shown in that command's --help; so a new domain adds its help without touching the CLI.
    flag_help: ClassVar[dict[str, str]] = {}
    corpora: ClassVar[tuple[Corpus, ...]] = ()  # built-in corpora of this domain
    sample_flags: ClassVar[tuple[str, ...]] = ()  # `seqgen sample` flags only it takes (SampleRequest.asked)
    # The views `seqgen serve` gives its models, each resting on a capability of the domain: "compose" (samples
    # written as MIDI, WAV and piano roll by `write_samples`), "write" (samples streamed as text, token by token),
    # "score" (`score_texts`: pasted lines with per-token surprisal), "signals" (`read_signal`, `score_signal`).
    page_views: ClassVar[tuple[str, ...]] = ()

    def claims(self, path: Path) -> bool:
        """Whether a file is this domain's by its name (case-insensitive)."""
        return bool(self.suffixes) and path.name.lower().endswith(self.suffixes)

    # --- training data ------------------------------------------------------------------------------
    @abstractmethod
    def read_data(self, inputs: Inputs, codec: Codec | None, settings: ReadSettings) -> TrainingData:
        """DATA's training and validation streams; without `codec` a new one is built or fitted."""

    def after_training(self, load: Callable[[], Model], val: np.ndarray) -> dict[str, Any]:
        """Settings to add to a finished run's config.json, measured with its best weights (`load()`)."""
        return {}

    # --- sampling -----------------------------------------------------------------------------------
    @abstractmethod
    def primer_ids(self, model: Model, prime: Any) -> list[int]:
        """Token ids of a primer (after the codec's start context); [] when there is none."""

    @abstractmethod
    def sample_limit(self, codec: Codec, length: int, seconds: float,
                     options: Mapping[str, Any] | None = None) -> tuple[int, Costs | None, float | None]:
        """A --seconds cap as (length, costs in seconds: per token id or a meter, see seqgen.sample.generate,
        budget), or an error where it means nothing. `options` are those the samples will be decoded with (a
        music model's tempo), which can change how long a token lasts."""

    def min_length(self, codec: Codec) -> int:
        """New tokens a sample writes before it may end, for this codec (default_min_length unless a domain's
        codecs differ in how many tokens a note takes)."""
        return self.default_min_length

    def untrained_ids(self, codec: Codec, config: dict[str, Any]) -> list[int]:
        """Ids the training data never held, which a sample must not wander into."""
        return []

    def prime_bans(self, codec: Codec, prime: Any) -> list[int]:
        """Ids a sample must not write because of what the primer asks (a music piece's metre)."""
        return []

    @abstractmethod
    def decode_samples(self, codec: Codec, prime: Any, primer: list[int], outs: list[list[int]],
                       **options: Any) -> list[Any]:
        """Sampled continuations as the user's objects, primer included."""

    def sample_prime(self, request: SampleRequest) -> Any:
        """The primer a sample request gives this domain."""
        return request.prime

    @abstractmethod
    def check_sample_request(self, model: Model, request: SampleRequest) -> None:
        """Refuse options this domain does not take, before anything is generated."""

    def check_asked(self, model: Model, request: SampleRequest) -> None:
        """Refuse the `asked` flags of other domains (--meter for a text model), naming the domains that take them."""
        from seqgen import domains

        for flag, value in request.asked.items():
            if value is not None and flag not in self.sample_flags:
                raise SeqgenError(f"--{flag} is for {domains.sample_owners(flag)} models; {model.path} is a "
                                  f"{self.name} model")

    @abstractmethod
    def write_samples(self, model: Model, request: SampleRequest, run: SampleRun, report: Report) -> None:
        """Show the samples (a line or, with --json, a JSON object per sample) and write the files asked for."""

    # --- scoring ------------------------------------------------------------------------------------
    @abstractmethod
    def score_request(self, model: Model, request: ScoreRequest, report: Report) -> None:
        """Score what `seqgen score` was given, showing each result as a line or, with --json, a JSON object."""

    # --- info ---------------------------------------------------------------------------------------
    def info_rows(self, config: dict[str, Any]) -> list[tuple[str, str]]:
        """Rows `seqgen info` adds for this domain, from the checkpoint's config.json (its training data, what
        `after_training` measured)."""
        return []


def finite(d: dict[str, Any]) -> dict[str, Any]:
    """A record with non-finite floats as None, so it is valid JSON."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def joined(words: Sequence[str], conjunction: str = "and") -> str:
    """"a", "a and b", "a, b and c" (or another conjunction)."""
    return f" {conjunction} ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)
