"""One typed configuration for `seqgen train`: every setting is declared once, with its default and its help,
and resolved in one place.

A setting is a dataclass field (ModelConfig: the network; TrainConfig: the optimisation) or a domain's option
(seqgen.domains: codec and reading options, declared on the Domain with the same `Option`). The command line
builds its flags from these declarations, the README's options table is generated from them and checked by a test,
and the API takes the same names; so a default cannot differ between the three.

`resolve` merges the sources of settings in one documented order, the first that sets a value winning:

    explicit option  >  preset  >  corpus defaults  >  the domain's defaults  >  library defaults

and records where each value came from; the checkpoint stores the resulting dataclasses as they are.

This module imports no torch, so `seqgen train --help` can build its options at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from seqgen.choices import CELLS, PRECISIONS

if TYPE_CHECKING:
    from seqgen.corpora import Corpus
    from seqgen.domains.base import Domain
    from seqgen.presets import Preset

T = TypeVar("T")
BUDGETS = ("max_time", "max_steps", "epochs")  # a budget given replaces a preset's budgets rather than adding one


@dataclass(frozen=True)
class Option:
    """How one setting shows itself: its help, the value range the command line checks, and its flag.

    `default` is the value when nothing else sets it (None: decided from the data, as `default_text` says).
    `low`/`high` bound numbers (open bounds exclude the limit); `choices` lists the allowed strings;
    `cli=False` keeps an API-only setting off the command line."""

    name: str
    kind: type | tuple[type, ...]  # int, float, str or bool; a tuple where several are accepted
    help: str
    default: Any = None
    default_text: str | None = None  # shown instead of `default` when the default depends on something
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()  # extra spellings ("-b"), or the flag when it is not --name ("--warmup")
    metavar: str | None = None
    negatable: bool = False  # a bool with --no-NAME, so a preset's True can be turned off
    cli: bool = True
    domain: str | None = None  # for a domain's option: its domain, shown in the help
    role: str = "train"  # "model", "train", "codec" (builds the codec) or "read" (how files are read)

    @property
    def flag(self) -> str:
        """The long flag, as users type it: --batch-size."""
        return next((f for f in self.flags if f.startswith("--")), "--" + self.name.replace("_", "-"))

    def shown_default(self) -> str | None:
        """The default as the help shows it; None when there is nothing to show (a flag that is off)."""
        if self.default_text is not None:
            return self.default_text
        if self.default is None or self.default is False:
            return None
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)

    def check(self, value: Any) -> None:
        """Raise ValueError unless `value` has this setting's type and lies in its range."""
        ok = _has_kind(value, self.kind)
        if ok and self.kind in (int, float):
            ok = ((self.low is None or (value > self.low if self.low_open else value >= self.low))
                  and (self.high is None or (value < self.high if self.high_open else value <= self.high)))
        if ok and self.choices:
            ok = value in self.choices
        if not ok:
            raise ValueError(f"invalid setting {self.name}={value!r}" + self._range_text())

    def _range_text(self) -> str:
        if self.choices:
            return f" (choose one of {', '.join(self.choices)})"
        if self.low is None and self.high is None:
            kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
            return f" (a {' or '.join(k.__name__ for k in kinds)})"
        low = "" if self.low is None else f"{self.low:g} {'<' if self.low_open else '<='} "
        high = "" if self.high is None else f" {'<' if self.high_open else '<='} {self.high:g}"
        return f" (need {low}{self.name}{high})"


def _has_kind(value: Any, kind: type) -> bool:
    """Whether a value (perhaps read from JSON) is of a setting's kind: a bool is no number, an int is a float,
    and a float must be finite."""
    if isinstance(kind, tuple):
        return any(_has_kind(value, k) for k in kind)
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float) and math.isfinite(value)
    return isinstance(value, kind)


def setting(default: Any, kind: type, help: str, *, optional: bool = False, **spec: Any) -> Any:
    """A dataclass field declared with its Option (name and role are filled in from the class)."""
    return field(default=default, metadata={"option": dict(kind=kind, help=help, default=default, **spec),
                                             "optional": optional})


def options_of(cls: type) -> tuple[Option, ...]:
    """The Options declared on a config dataclass's fields, in field order."""
    role = getattr(cls, "ROLE", "train")
    return tuple(Option(name=f.name, role=role, **f.metadata["option"]) for f in fields(cls) if "option" in f.metadata)


def from_known_fields(cls: type[T], d: Mapping[str, Any]) -> T:
    """A dataclass built from a stored dict, keys it does not declare left out (a checkpoint written by another
    seqgen version may hold more or fewer)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


def _check_fields(obj: Any) -> None:
    """Check every declared setting of a config dataclass (a setting may be None where it is optional)."""
    for f in fields(obj):
        if "option" not in f.metadata:
            continue
        value = getattr(obj, f.name)
        if value is None and f.metadata["optional"]:
            continue
        Option(name=f.name, **f.metadata["option"]).check(value)


@dataclass
class ModelConfig:
    """Architecture of a SequenceModel; stored in every checkpoint. `embed=0` feeds one-hot vectors.

    `vocab_size` comes from the codec once the data is read (0 until then)."""

    ROLE = "model"

    vocab_size: int = 0
    # GRU learns most per CPU second: 600 s on 2 cores gave tinyshakespeare GRU 1.47 vs LSTM 1.66 nats/char,
    # and Bach chorales GRU 1.25 vs LSTM 1.41 nats/event
    cell: str = setting("gru", str, "Recurrent cell.", choices=CELLS)
    layers: int = setting(2, int, "Stacked recurrent layers.", low=1)
    hidden: int = setting(256, int, "Hidden units per layer.", low=1)
    embed: int = setting(64, int, "Embedding size; 0 feeds one-hot vectors.", low=0)
    dropout: float = setting(0.0, float, "Dropout between layers.", low=0, high=1, high_open=True)
    tie_weights: bool = setting(False, bool, "Share the embedding with the output layer.", negatable=True)

    def __post_init__(self) -> None:
        if isinstance(self.vocab_size, bool) or not isinstance(self.vocab_size, int) or self.vocab_size < 0:
            raise ValueError(f"vocab_size must be a positive integer, got {self.vocab_size!r}")
        _check_fields(self)
        if self.tie_weights and self.embed == 0:
            raise ValueError("tie_weights needs a learned embedding (embed > 0)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelConfig:
        return from_known_fields(cls, d)


@dataclass
class TrainConfig:
    """Optimisation settings; stored in the checkpoint. Budgets count the whole run, resumes included; with no
    budget at all a run trains for 10 epochs."""

    ROLE = "train"

    batch_size: int = setting(64, int, "Parallel streams per step.", low=1, flags=("-b",))
    seq_len: int = setting(128, int, "BPTT window in tokens.", low=1, flags=("-t",))
    lr: float = setting(2e-3, float, "Peak learning rate.", low=0, low_open=True)
    lr_schedule: str = setting("cosine", str, "After warmup: cosine decay to lr/10 over the budget, or constant.",
                               choices=("cosine", "constant"))
    min_lr_ratio: float = setting(0.1, float, "Where the cosine decay ends, as a share of lr.", low=0, high=1,
                                  cli=False)
    warmup_steps: int = setting(50, int, "Linear warmup steps.", low=0, flags=("--warmup",))
    weight_decay: float = setting(0.01, float, "AdamW weight decay.", low=0)
    clip: float = setting(1.0, float, "Clip the global gradient norm to this.", low=0, low_open=True)
    epochs: float | None = setting(None, float, "Budget in passes over the data.", optional=True, low=0,
                                   low_open=True, default_text="10 when no other budget is given")
    max_steps: int | None = setting(None, int, "Budget in optimiser steps (whole run).", optional=True, low=1)
    max_time: float | None = setting(None, float, "Budget in seconds (whole run, resumes included).",
                                     optional=True, low=0, low_open=True)
    eval_every: int = setting(250, int, "Validate and checkpoint every N steps.", low=1)
    save_every: float | None = setting(
        10.0, float, "Also save the run every MINUTES of training between validations, so a kill loses minutes "
        "(validation keeps the best weights; these saves keep the run resumable).", optional=True, low=0,
        low_open=True, metavar="MINUTES")
    log_every: int = setting(10, int, "Log the training loss every N steps.", low=1, cli=False)
    val_fraction: float = setting(0.1, float, "Tail of the data held out for validation (unless --val is given).",
                                  low=0, high=1, high_open=True)
    # (the domains that take it list it in their data_flags; the others refuse it)
    transpose: int = setting(0, int, "Music: move each training piece by a random interval in [-N, N] semitones, "
                             "anew every epoch (augmentation).", low=0, high=24)
    seed: int = setting(0, int, "Fixes initialisation, data order and dropout.", low=0, high=2**63, high_open=True)
    precision: str = setting(
        "auto", str, "What the forward pass runs in (weights and loss stay fp32). auto: bf16 autocast where the CPU "
        "(AVX512-BF16, AMX) or GPU computes bfloat16 natively, fp32 elsewhere (emulated bf16 is slower); fp16: CUDA "
        "only. Stored in the checkpoint; --resume decides auto anew on its machine.", choices=PRECISIONS)

    def __post_init__(self) -> None:
        _check_fields(self)
        if self.epochs is None and self.max_steps is None and self.max_time is None:
            self.epochs = 10.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        return from_known_fields(cls, d)


MODEL_OPTIONS = options_of(ModelConfig)
TRAIN_OPTIONS = options_of(TrainConfig)


def library_default(name: str) -> Any:
    """The library default of a model or training setting (what ModelConfig/TrainConfig start from)."""
    for cls in (ModelConfig, TrainConfig):
        for f in fields(cls):
            if f.name == name and f.default is not MISSING:
                return f.default
    raise KeyError(name)


@dataclass
class Settings:
    """A run's settings, resolved: the model and training dataclasses, the domain's codec and reading options,
    and where each value came from ("given", "preset NAME", "corpus NAME", "domain NAME", "library")."""

    model: ModelConfig
    train: TrainConfig
    codec: dict[str, Any]
    read: dict[str, Any]
    sources: dict[str, str]


def resolve(given: Mapping[str, Any], domain: Domain, *, preset: Preset | None = None,
            corpora: Iterable[Corpus] = (), run_defaults: Mapping[str, Any] | None = None) -> Settings:
    """Merge the settings of a training run, the first source that sets a value winning:

    1. `given`: options the user gave (None means not given);
    2. the `preset`'s options, and `run_defaults` (what a run without DATA adds: the quickstart's time budget);
       a budget given replaces theirs rather than adding a second limit;
    3. the defaults of the built-in `corpora` named as DATA;
    4. the `domain`'s defaults (its codec and reading options);
    5. the library defaults (ModelConfig, TrainConfig).

    Names no one declares raise TypeError; another domain's options, and values out of range, raise ValueError.
    """
    given = {k: v for k, v in given.items() if v is not None}
    own = {o.name: o for o in (*MODEL_OPTIONS, *TRAIN_OPTIONS, *domain.options)}
    _refuse_foreign(given, own, domain)
    budget_given = bool(set(BUDGETS) & set(given))
    layers: list[tuple[str, Mapping[str, Any]]] = [("given", given)]
    if preset is not None:
        layers.append((f"preset {preset.name}", preset.options))
    if run_defaults:
        layers.append(("default run", run_defaults))
    layers += [(f"corpus {c.name}", dict(c.train_defaults)) for c in corpora]
    layers.append((f"domain {domain.name}", {o.name: o.default for o in domain.options}))
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for source, layer in layers:
        for name, value in layer.items():
            if name in values or value is None or (budget_given and source != "given" and name in BUDGETS):
                continue
            values[name], sources[name] = value, source
    for option in (*MODEL_OPTIONS, *TRAIN_OPTIONS):
        sources.setdefault(option.name, "library")
    for option in domain.options:
        if option.name in values:
            option.check(values[option.name])
    roles = {o.name: o.role for o in own.values()}
    picked = {role: {k: v for k, v in values.items() if roles[k] == role}
              for role in ("model", "train", "codec", "read")}
    return Settings(ModelConfig(**picked["model"]), TrainConfig(**picked["train"]), picked["codec"], picked["read"],
                    sources)


def _refuse_foreign(given: Mapping[str, Any], own: Mapping[str, Option], domain: Domain) -> None:
    """Unknown names are a programming error (TypeError); another domain's options are the user's (ValueError)."""
    from seqgen import domains  # the registry imports the domains, which import this module

    foreign = {o.name: o for d in domains.DOMAINS.values() for o in d.options if o.name not in own}
    unknown = set(given) - set(own) - set(foreign)
    if unknown:
        raise TypeError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    wrong = sorted(set(given) & set(foreign))
    if wrong:
        owners = domains.owners(wrong[0])
        raise ValueError(f"{', '.join(foreign[k].flag for k in wrong)}: for {owners} data; this data is {domain.name}")


def cli_options() -> list[Option]:
    """Every setting `seqgen train` takes as a flag: the model's, each domain's (in registry order), training's."""
    from seqgen import domains

    seen: dict[str, Option] = {}
    for option in (*MODEL_OPTIONS, *(o for d in domains.DOMAINS.values() for o in d.options), *TRAIN_OPTIONS):
        if option.cli:
            seen.setdefault(option.name, option)
    return list(seen.values())


def help_text(option: Option) -> str:
    """An option's help as the command line and the README show it: "Music: ...  [default: 10]"."""
    text = f"{option.domain.capitalize()}: {_lowered(option.help)}" if option.domain else option.help
    shown = option.shown_default()
    return f"{text}  [default: {shown}]" if shown is not None else text


def markdown_table() -> str:
    """The README's table of `seqgen train` settings, generated so that it cannot drift from the code."""
    rows = ["| option | default | what it sets |", "| --- | --- | --- |"]
    for option in cli_options():
        flags = " ".join(f"`{f}`" for f in (option.flag, *(f for f in option.flags if f != option.flag)))
        shown = option.shown_default()
        about = f"{option.domain.capitalize()}: {_lowered(option.help)}" if option.domain else option.help
        rows.append(f"| {flags} | {shown if shown is not None else '–'} | {about} |")
    return "\n".join(rows)


def _lowered(text: str) -> str:
    """A sentence's first word in lower case after a "Music:" prefix, unless it is an abbreviation (CSV)."""
    return text[0].lower() + text[1:] if text[1:2].islower() else text
