"""The Python API: `train(...)` a model into a checkpoint folder, `load(path)` it, then `.sample()`
and `.score()` (see seqgen.trained). The CLI is a thin layer over these functions."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from seqgen import __version__, checkpoint, distributed, domains, run_folder
from seqgen.choices import DEFAULT_DATA, DEFAULT_DATA_BUDGET_S, MODEL_DEFAULTS  # noqa: F401  (defined there)
from seqgen.device import resolve_device
from seqgen.domains.base import FileProgress
from seqgen.errors import SeqgenError
from seqgen.inputs import prepare, split_corpora
from seqgen.models import ModelConfig
from seqgen.presets import get_preset
from seqgen.render import plot_training_curve, read_losses
from seqgen.trained import Model
from seqgen.trainer import Progress, ProgressFn, TrainConfig, Trainer, TrainResult

BUDGETS = ("max_time", "max_steps", "epochs")
CURVE = "curve.png"  # drawn from metrics.jsonl after every run


def _default_folder(data: Sequence[str | Path], cell: str) -> Path:
    first = re.split(r"[*?\[]", str(data[0]), maxsplit=1)[0].rstrip("/")  # a glob's fixed prefix
    stem = re.sub(r"[^\w.-]", "", Path(first).stem) or "model"
    base = checkpoint.DEFAULT_ROOT / f"{stem}-{cell}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


def train(data: Sequence[str | Path] | str | None = None, out: str | Path | None = None, *,
          resume: str | Path | None = None, progress: ProgressFn | None = None, device: str = "auto",
          boundaries: bool = False, overwrite: bool = False, max_files: int | None = None,
          preset: str | None = None, **options: Any) -> TrainResult:
    """Train a model on `data` (corpus names, files, folders, globs; default: the `folk` music corpus).

    `options` are model settings (cell, layers, hidden, embed, dropout, tie_weights), music codec settings
    (step_ms, max_shift_ms, velocity_bins, drums, program) and TrainConfig fields (batch_size, seq_len, lr,
    max_time, max_steps, epochs, transpose, seed, precision, ...); unset ones take the `preset`'s values (see
    seqgen.presets; a budget given replaces the preset's), then defaults. `max_files` limits each corpus or file
    list to a fixed random subset. With `resume`, training continues in that checkpoint folder from its saved
    step; the model and codec come from the checkpoint and only training options change. The checkpoint folder
    gets curve.png, the losses of metrics.jsonl drawn against seconds and steps.

    Under torchrun, every process runs this call as one rank of a DistributedDataParallel run (see
    seqgen.distributed): `batch_size` is the global batch, and only rank 0 writes and reports progress.
    """
    with distributed.session(device) as dev:
        return _train(data, out, dev, resume=resume, progress=progress if distributed.is_main() else None,
                      boundaries=boundaries, overwrite=overwrite, max_files=max_files, preset=preset, **options)


def _train(data: Sequence[str | Path] | str | None, out: str | Path | None, dev: torch.device, *,
           resume: str | Path | None, progress: ProgressFn | None, boundaries: bool, overwrite: bool,
           max_files: int | None, preset: str | None, **options: Any) -> TrainResult:
    options = {k: v for k, v in options.items() if v is not None}
    codec_names, read_names = domains.option_names()
    known = set(MODEL_DEFAULTS) | codec_names | read_names | set(TrainConfig.__dataclass_fields__)
    unknown = set(options) - known
    if unknown:
        raise TypeError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    if isinstance(data, str | Path):
        data = [data]
    if resume is not None:
        clash = [name for name, given in (("--out", out is not None), ("--overwrite", overwrite),
                                          ("--sentences", boundaries), ("--preset", preset is not None)) if given]
        if clash:
            raise SeqgenError(f"--resume continues in its own folder with its own codec; drop {', '.join(clash)}")
        if max_files is not None:
            raise SeqgenError("--resume reads the same files as the run it continues; drop --max-files")
        return _resume(Path(resume), list(data or []), options, dev, progress)

    if preset is not None:
        chosen = get_preset(preset)
        if not data:
            raise SeqgenError(f"--preset {preset} needs DATA: {chosen.data}")
        budget_given = bool(set(BUDGETS) & set(options))
        options = {**{k: v for k, v in chosen.options.items() if not (budget_given and k in BUDGETS)}, **options}
    data = list(data or [DEFAULT_DATA])
    if data == [DEFAULT_DATA] and not set(BUDGETS) & set(options):
        options["max_time"] = DEFAULT_DATA_BUDGET_S
    for corpus in split_corpora(data)[0]:  # named corpora only: the files are read once, by prepare
        for key, value in corpus.train_defaults:
            options.setdefault(key, value)
    model_opts = {k: options.pop(k, v) for k, v in MODEL_DEFAULTS.items()}
    codec_opts = {k: options.pop(k) for k in codec_names if k in options}
    read_opts = {k: options.pop(k) for k in read_names if k in options}
    try:
        cfg = TrainConfig(**options)
    except ValueError as e:
        raise SeqgenError(str(e)) from None
    folder = Path(out) if out is not None else _default_folder(data, model_opts["cell"])
    if distributed.is_main():  # (the other ranks would see the folder rank 0 is making)
        run_folder.check_new(folder, overwrite)

    try:
        prepared = prepare(data, cfg.val_fraction, boundaries=boundaries, codec_options=codec_opts,
                           transpose=cfg.transpose, seed=cfg.seed, max_files=max_files,
                           on_files=_file_progress(progress, data), read_options=read_opts)
    except ValueError as e:  # codec settings out of range
        raise SeqgenError(str(e)) from None
    codec = prepared.codec
    torch.manual_seed(cfg.seed)
    try:
        model_config = ModelConfig(vocab_size=codec.vocab_size, **model_opts)
    except ValueError as e:
        raise SeqgenError(str(e)) from None
    model = checkpoint.build_model(model_config)
    run_config = {
        "seqgen_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "domain": codec.domain,
        "codec": codec.to_dict(), "model": model.config.to_dict(), "parameters": model.num_parameters(),
        "data": prepared.summary, **({"preset": preset} if preset is not None else {}),
    }
    _report_notes(progress, prepared.notes)
    with run_folder.writing(folder, overwrite, distributed.is_main()) as work:
        result = Trainer(model, prepared.train, prepared.val, cfg, work, run_config, dev, progress).run()
    result.folder = folder
    _finish(folder, domains.get(prepared.codec.domain), prepared.val)
    return result


def _finish(folder: Path, home: domains.Domain, val: Any) -> None:
    """Rank 0's work once a run has saved: the domain's own (waveforms: anomaly thresholds from the validation
    tails), stored in config.json, and curve.png."""
    if not distributed.is_main():
        return
    extra = home.after_training(lambda: load(folder, device="cpu"), val)
    if extra:
        config = checkpoint.read_config(folder)
        config.update(extra)
        checkpoint.save_config(folder, {k: v for k, v in config.items() if k not in ("format", "format_version")})
    _draw_curve(folder)


def _draw_curve(folder: Path) -> None:
    """curve.png for the run just ended, unless it logged no loss at all (fewer steps than one log interval and
    no validation data)."""
    if any(read_losses(folder / checkpoint.METRICS)):
        plot_curve(folder)


def plot_curve(path: str | Path | None = None, out: str | Path | None = None) -> Path:
    """Draw a checkpoint's training and validation losses from its metrics.jsonl against seconds and steps, as a
    PNG at `out` (default: curve.png in the folder; checkpoint default: the newest); returns where it went."""
    folder = Path(path) if path is not None else checkpoint.newest()
    config = checkpoint.read_config(folder)
    model, train = config["model"], config["train"]
    title = (f"{folder.name}: {model.get('cell')} {model.get('layers')}x{model.get('hidden')}, "
             f"{train.get('precision', 'fp32')}")
    target = Path(out) if out is not None else folder / CURVE
    plot_training_curve(folder / checkpoint.METRICS, target, title)
    return target


def _resume(folder: Path, data: list[str | Path], options: dict[str, Any], dev: torch.device,
            progress: ProgressFn | None) -> TrainResult:
    config = checkpoint.read_config(folder)
    state = checkpoint.load_trainer_state(folder)
    if not os.access(folder, os.W_OK):  # fail before training rather than at the first save
        raise SeqgenError(f"{folder}: cannot resume into a folder that is read-only or not writable for this user")
    checkpoint.tidy(folder)
    model, codec = checkpoint.build(config, folder)
    ignored = set(options) - set(TrainConfig.__dataclass_fields__)
    if ignored:
        raise SeqgenError(f"--resume keeps the checkpoint's model, codec and data reading; "
                          f"drop {', '.join(sorted(ignored))}")
    saved = dict(config["train"])
    if set(BUDGETS) & set(options):  # a new budget replaces the old ones rather than adding a limit
        saved.update(dict.fromkeys(BUDGETS))
    try:
        cfg = TrainConfig.from_dict({**saved, **options})
    except (ValueError, TypeError) as e:
        raise SeqgenError(str(e)) from None
    inputs = data or config["data"].get("inputs")
    if not inputs:
        raise SeqgenError(f"{folder}: the checkpoint does not record its training data; give DATA")
    prepared = prepare(inputs, cfg.val_fraction, codec, transpose=cfg.transpose, seed=cfg.seed,
                       max_files=None if data else config["data"].get("max_files"),
                       on_files=_file_progress(progress, inputs), read_options=config["data"].get("read_options"))
    _report_notes(progress, prepared.notes)
    run_config = {k: v for k, v in config.items()
                  if k not in ("format", "format_version", "train", "progress", "precision")}
    run_config["data"] = prepared.summary
    trained_in = config.get("precision", {}).get("chosen", saved.get("precision"))  # older checkpoints: as asked
    trainer = Trainer(model, prepared.train, prepared.val, cfg, folder, run_config, dev, progress, trained_in)
    try:
        trainer.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        raise SeqgenError(f"{folder / checkpoint.TRAINER}: does not match the checkpoint ({e})") from None
    if saved.get("val_fraction") != cfg.val_fraction or data:
        trainer.reset_best()  # a different validation set: losses are not comparable with the old best
    if trainer.fraction() >= 1.0:
        budget = ", ".join(f"--{k.replace('_', '-')} {getattr(cfg, k)}" for k in BUDGETS if getattr(cfg, k))
        raise SeqgenError(f"{folder}: already at step {trainer.s.step}, which meets its budget ({budget}); "
                          "give a larger --max-steps, --max-time or --epochs to train on")
    result = trainer.run()
    _finish(folder, domains.get(codec.domain), prepared.val)
    return result


def _file_progress(progress: ProgressFn | None, data: Sequence[str | Path]) -> FileProgress | None:
    """Turn file-parsing progress into the training progress callback's "data" reports."""
    if progress is None:
        return None
    label = ", ".join(map(str, data))
    return lambda done, total: progress(Progress("data", done, done / max(total, 1),
                                                          message=f"reading {label}", total=total))


def _report_notes(progress: ProgressFn | None, notes: Sequence[str]) -> None:
    for note in notes:
        if progress is not None:
            progress(Progress("note", 0, 0.0, message=note))


def load(path: str | Path | None = None, device: str = "auto") -> Model:
    """Load a checkpoint folder (default: the newest under ./checkpoints/)."""
    folder = Path(path) if path is not None else checkpoint.newest()
    dev = resolve_device(device)
    config, net, codec = checkpoint.load(folder, dev)
    return Model(folder, config, net, codec, dev)
