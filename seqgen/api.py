"""The Python API: `train(...)` a model into a checkpoint folder, `load(path)` it, then `.sample()`
and `.score()` (see seqgen.trained). The CLI is a thin layer over these functions."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from seqgen import __version__, checkpoint, distributed, domains, finetune, run_folder
from seqgen.choices import DEFAULT_DATA, DEFAULT_DATA_BUDGET_S
from seqgen.config import BUDGETS, TRAIN_OPTIONS, Settings, TrainConfig, resolve
from seqgen.device import resolve_device
from seqgen.domains.base import FileProgress, Inputs
from seqgen.errors import SeqgenError
from seqgen.inputs import prepare
from seqgen.inputs import resolve as resolve_inputs
from seqgen.presets import get_preset
from seqgen.render import plot_training_curve, read_losses
from seqgen.trained import Model
from seqgen.trainer import Progress, ProgressFn, Trainer, TrainResult

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
          resume: str | Path | None = None, start_from: str | Path | None = None,
          progress: ProgressFn | None = None, device: str = "auto",
          boundaries: bool = False, overwrite: bool = False, max_files: int | None = None,
          preset: str | None = None, val: Sequence[str | Path] | str | None = None, **options: Any) -> TrainResult:
    """Train a model on `data` (corpus names, files, folders, globs; default: the `folk` music corpus).

    `options` are the settings declared in seqgen.config (model: cell, layers, hidden, ...; training: batch_size,
    seq_len, lr, max_time, precision, ...) and the data's domain (music: step_ms, velocity_bins, drums, ...;
    waveforms: rate, bits, channel, ...); `seqgen train --help` lists them all with their defaults. Unset ones
    resolve in the order explicit option > `preset` (see seqgen.presets; a budget given replaces the preset's) >
    corpus defaults > the domain's defaults > library defaults (seqgen.config.resolve), and config.json records
    where each came from. `max_files` limits each corpus or file list to a fixed random subset. `val` validates
    on that data instead of the tail `val_fraction` of `data`.

    With `resume`, training continues in that checkpoint folder from its saved step; the model and codec come from
    the checkpoint and only training options change. The checkpoint folder gets curve.png, the losses of
    metrics.jsonl drawn against seconds and steps.

    With `start_from` (a checkpoint, anything `load` accepts), a new run fine-tunes that model on `data`: its
    architecture and codec are kept (options that would change them are refused), a text model's vocabulary grows
    by the characters of `data` it never saw (reported as a note), the optimiser and step count start afresh, and
    config.json's "from" records the base.

    Under torchrun, every process runs this call as one rank of a DistributedDataParallel run (see
    seqgen.distributed): `batch_size` is the global batch, and only rank 0 writes and reports progress.
    """
    data = [data] if isinstance(data, str | Path) else list(data or [])
    val = [val] if isinstance(val, str | Path) else list(val or [])
    with distributed.session(device) as dev:
        progress = progress if distributed.is_main() else None
        if resume is not None and start_from is not None:
            raise SeqgenError("--resume continues a run, --from starts a new one from a checkpoint; give one of them")
        if resume is not None:
            _refuse_with_resume(out=out is not None, overwrite=overwrite, sentences=boundaries,
                                preset=preset is not None, max_files=max_files is not None)
            return _resume(Path(resume), data, val, options, dev, progress)
        base = finetune.load_base(find_checkpoint(start_from)) if start_from is not None else None
        return _train(data, val, out, dev, progress=progress, boundaries=boundaries, overwrite=overwrite,
                      max_files=max_files, preset=preset, options=options, base=base)


def _train(data: list[str | Path], val: list[str | Path], out: str | Path | None, dev: torch.device, *,
           progress: ProgressFn | None, boundaries: bool, overwrite: bool, max_files: int | None,
           preset: str | None, options: dict[str, Any], base: finetune.Base | None = None) -> TrainResult:
    """A new run, top to bottom: settings, data, model, training, finishing touches; with a `base`, a fine-tune
    of that checkpoint (its architecture, codec and weights)."""
    # 1. The settings: what DATA is decides the domain, whose options and corpora join the resolution.
    if preset is not None and not data:
        raise SeqgenError(f"--preset {preset} needs DATA: {get_preset(preset).data}")
    if base is not None and not data:
        raise SeqgenError(f"--from {base.folder} needs DATA to fine-tune on")
    data = data or [DEFAULT_DATA]
    found = resolve_inputs(data, max_files)
    if base is not None:
        finetune.check_domain(found, data, base)
        finetune.check_options(options, base, sentences=boundaries)
    settings = _settings(options, found, preset, default_run=data == [DEFAULT_DATA], val=bool(val))
    if base is not None:
        settings = finetune.with_base_architecture(settings, base)
    folder = Path(out) if out is not None else _default_folder(data, settings.model.cell)
    if distributed.is_main():  # (the other ranks would see the folder rank 0 is making)
        run_folder.check_new(folder, overwrite)

    # 2. The data: token streams for training and validation, and the codec that made them (a base's, grown).
    cfg = settings.train
    try:
        prepared = prepare(data, cfg.val_fraction, base.codec if base else None, boundaries=boundaries,
                           codec_options=settings.codec, transpose=cfg.transpose, seed=cfg.seed, max_files=max_files,
                           on_files=_file_progress(progress, data), read_options=settings.read, val=val,
                           found=found, grow_vocabulary=base is not None)
    except ValueError as e:  # codec settings out of range
        raise SeqgenError(str(e)) from None
    added = finetune.added_tokens(base, prepared.codec) if base else []
    _report_notes(progress, ([finetune.added_note(added)] if added else []) + prepared.notes)

    # 3. The model: the architecture settings (or the base's weights) over the codec's vocabulary, seeded.
    torch.manual_seed(cfg.seed)
    vocab_size = prepared.codec.vocab_size
    model = (finetune.grown_model(base.net, vocab_size) if base
             else checkpoint.build_model(replace(settings.model, vocab_size=vocab_size)))
    run_config = {
        "seqgen_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "domain": found.domain,
        "codec": prepared.codec.to_dict(), "model": model.config.to_dict(), "parameters": model.num_parameters(),
        "data": prepared.summary, "settings_from": settings.sources, **({"preset": preset} if preset else {}),
        **({"from": finetune.origin(base, added)} if base else {}),
    }

    # 4. Training, in a working folder that becomes the checkpoint only once something is saved.
    with run_folder.writing(folder, overwrite, distributed.is_main()) as work:
        result = Trainer(model, prepared.train, prepared.val, cfg, work, run_config, dev, progress).run()
    result.folder = folder

    # 5. What the domain adds with the best weights (waveforms: anomaly thresholds), and the loss curve.
    _finish(folder, domains.get(found.domain), prepared.val)
    return result


def _settings(options: dict[str, Any], found: Inputs, preset: str | None, *, default_run: bool,
              val: bool) -> Settings:
    """The run's settings resolved (seqgen.config.resolve) for the domain and corpora DATA turned out to be."""
    if val and options.get("val_fraction") is not None:
        raise SeqgenError("--val validates on its own data; drop --val-fraction")
    if val:
        options = {**options, "val_fraction": 0.0}  # nothing of DATA is held out
    try:
        return resolve(options, domains.get(found.domain), preset=get_preset(preset) if preset else None,
                       corpora=found.corpora, run_defaults={"max_time": DEFAULT_DATA_BUDGET_S} if default_run else None)
    except ValueError as e:
        raise SeqgenError(str(e)) from None


def _refuse_with_resume(**given: bool) -> None:
    """A resume keeps its folder, codec and data reading: refuse the options that would change them."""
    clash = ["--" + name.replace("_", "-") for name, was_given in given.items() if was_given]
    if clash:
        raise SeqgenError(f"--resume continues in its own folder with its own codec and data; drop {', '.join(clash)}")


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


def _resume(folder: Path, data: list[str | Path], val: list[str | Path], options: dict[str, Any],
            dev: torch.device, progress: ProgressFn | None) -> TrainResult:
    """Continue a checkpoint's run from its saved step, with its model, codec, data and validation data unless
    new DATA or `val` are given (then the best loss so far is forgotten: it is not comparable)."""
    config = checkpoint.read_config(folder)
    state = checkpoint.load_trainer_state(folder)
    if not os.access(folder, os.W_OK):  # fail before training rather than at the first save
        raise SeqgenError(f"{folder}: cannot resume into a folder that is read-only or not writable for this user")
    checkpoint.tidy(folder)
    model, codec = checkpoint.build(config, folder)
    options = {k: v for k, v in options.items() if v is not None}
    ignored = set(options) - {o.name for o in TRAIN_OPTIONS}
    if ignored:
        raise SeqgenError(f"--resume keeps the checkpoint's model, codec and data reading; "
                          f"drop {', '.join('--' + k.replace('_', '-') for k in sorted(ignored))}")
    saved = dict(config["train"])
    val = val or config["data"].get("val_inputs") or []
    if val and options.get("val_fraction") is not None:
        raise SeqgenError("--val validates on its own data; drop --val-fraction")
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
                       on_files=_file_progress(progress, inputs), read_options=config["data"].get("read_options"),
                       val=val)
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
    if saved.get("val_fraction") != cfg.val_fraction or data or val != config["data"].get("val_inputs", []):
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


def find_checkpoint(path: str | Path | None = None) -> Path:
    """The folder `path` names (what `load(path)` and `train(start_from=path)` mean): a checkpoint folder, else a
    shipped model of that name, else the folder (for its error); without `path`, the newest under ./checkpoints/."""
    from seqgen import catalog

    if path is None:
        return checkpoint.newest()
    if Path(path).exists():
        return Path(path)
    return catalog.find(str(path)) or Path(path)


def load(path: str | Path | None = None, device: str = "auto") -> Model:
    """Load a checkpoint folder, or a shipped model by name ("folk"; see `seqgen models`): a folder of that name
    wins. Default: the newest under ./checkpoints/."""
    folder = find_checkpoint(path)
    dev = resolve_device(device)
    config, net, codec = checkpoint.load(folder, dev)
    return Model(folder, config, net, codec, dev)
