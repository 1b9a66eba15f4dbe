"""Checkpoint folders: config.json + model.safetensors (best weights) + trainer.pt (resume state).

Every file is serialised in memory, written to a temporary name, flushed and renamed into place, so a run
killed at any moment leaves the previous complete file behind, and a full disk or a read-only folder is a clear
error that leaves no temp file. trainer.pt is written last of the three files of a save and is what a resume
trusts. Weights are data only: safetensors for the model, and `torch.load(weights_only=True)` for the trainer
state.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save

from seqgen.codecs import Codec, codec_from_dict
from seqgen.errors import SeqgenError
from seqgen.models import ModelConfig, SequenceModel

CONFIG, WEIGHTS, TRAINER, METRICS = "config.json", "model.safetensors", "trainer.pt", "metrics.jsonl"
RUN_MARKER = ".seqgen-run.json"  # written when a run creates its folder: the folder is seqgen's from then on
FORMAT = "seqgen-checkpoint"
TRAINER_KEYS = ("loop", "model", "optimizer", "data_rng", "torch_rng")
FORMAT_VERSION = 1
DEFAULT_ROOT = Path("checkpoints")
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call write(tmp_name) for a temp file beside `path`, flush it to disk, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_file(path: Path, write: Callable[[str], None], errors: tuple[type[Exception], ...] = ()) -> None:
    """atomic_write of a user's output file; a failure (full disk, read-only folder, a file where a folder should
    be, or one of the writer's own `errors`) is one line naming the file, and leaves no file behind."""
    try:
        atomic_write(path, write)
    except (OSError, *errors) as e:
        if isinstance(e, FileExistsError | NotADirectoryError):
            reason = "a folder in its path is a file"
        elif isinstance(e, OSError):
            reason = e.strerror or str(e)
        else:  # a writer's own error: libsndfile's "System error." on a full disk, say
            reason = f"{type(e).__name__}: {getattr(e, 'error_string', None) or e}"
        raise SeqgenError(f"{path}: cannot write ({reason})") from None


def _save_file(path: Path, data: bytes) -> None:
    """atomic_write of serialised bytes; a failing write (full disk, read-only folder) is one line naming the file."""
    try:
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    except OSError as e:
        raise SeqgenError(f"{path}: cannot save ({e.strerror or e})") from None


def save_config(folder: Path, config: dict[str, Any]) -> None:
    """Write config.json (adds the format marker)."""
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, **config}
    _save_file(folder / CONFIG, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())


def save_weights(folder: Path, model: SequenceModel) -> None:
    """Write model.safetensors; tensors shared by tied weights are stored once (load_model restores the tie)."""
    tensors, seen = {}, set()
    for name, t in model.state_dict().items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
        if key not in seen:
            seen.add(key)
            tensors[name] = t.contiguous()
    _save_file(folder / WEIGHTS, save(tensors))


def save_trainer_state(folder: Path, state: dict[str, Any]) -> None:
    """Write trainer.pt: tensors and plain Python values only, loadable with weights_only=True."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    _save_file(folder / TRAINER, buffer.getvalue())


def append_metrics(folder: Path, record: dict[str, Any]) -> None:
    """Append one JSON line to metrics.jsonl."""
    try:
        with open(folder / METRICS, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    except OSError as e:
        raise SeqgenError(f"{folder / METRICS}: cannot save ({e.strerror or e})") from None


def tidy(folder: Path) -> None:
    """Before resuming: delete the temp files of a save that a killed or failed run left behind (the complete
    versions are in place), and a partly written last line of metrics.jsonl (a full disk, a kill mid-append)."""
    for name in (CONFIG, WEIGHTS, TRAINER):
        for tmp in folder.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)
    metrics = folder / METRICS
    data = metrics.read_bytes() if metrics.is_file() else b""
    if data and not data.endswith(b"\n"):
        try:
            with open(metrics, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)
        except OSError as e:
            raise SeqgenError(f"{metrics}: cannot repair ({e.strerror or e})") from None


def is_checkpoint(folder: Path) -> bool:
    return (folder / CONFIG).is_file() and (folder / WEIGHTS).is_file()


def mark_run(folder: Path) -> None:
    """Mark a new run's folder as seqgen's before training starts: a run killed before its first save can then be
    told apart from a user's folder (see unsaved_run_message) and replaced by --overwrite."""
    _save_file(folder / RUN_MARKER, b'{"format": "seqgen-run"}\n')


def is_run_folder(folder: Path) -> bool:
    """Whether seqgen made this folder for a run (a checkpoint, or a run stopped before its first save)."""
    return is_checkpoint(folder) or (folder / RUN_MARKER).is_file()


def unsaved_run_message(folder: Path) -> str | None:
    """What to tell a user who points at the folder of a run that was stopped (killed) before its first save, or
    None when `folder` is not one. The first save writes the weights first, so a folder with weights but no config
    is a damaged checkpoint instead (or, rarely, one killed in the middle of its first save)."""
    if (folder / WEIGHTS).exists() or not (folder / RUN_MARKER).is_file():
        return None
    step = 0
    metrics = folder / METRICS
    lines = metrics.read_text(encoding="utf-8", errors="replace").splitlines() if metrics.is_file() else []
    for line in reversed(lines):  # the last complete record says how far the run got
        try:
            step = int(json.loads(line)["step"])
            break
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return (f"{folder}: the training run in this folder was stopped before its first save (it had reached step "
            f"{step}), so it holds no checkpoint to resume or load; start it again with the same `seqgen train` "
            f"command and --out {folder} --overwrite")


def read_config(folder: str | Path) -> dict[str, Any]:
    """Parse and check config.json, with a clear error for anything that is not a seqgen checkpoint."""
    folder = Path(folder)
    if not folder.exists():
        raise SeqgenError(f"{folder}: no such checkpoint folder")
    if not folder.is_dir():
        raise SeqgenError(f"{folder}: a checkpoint is a folder, this is a file")
    path = folder / CONFIG
    if not path.is_file():
        raise SeqgenError(unsaved_run_message(folder) or f"{folder}: not a seqgen checkpoint (no {CONFIG})")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SeqgenError(f"{path}: damaged checkpoint config ({e})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise SeqgenError(f"{path}: not a seqgen checkpoint config")
    version = config.get("format_version")
    if not isinstance(version, int):
        raise SeqgenError(f"{path}: damaged checkpoint config (format_version {version!r})")
    if version > FORMAT_VERSION:
        raise SeqgenError(f"{path}: written by a newer seqgen (format {version}); upgrade seqgen")
    if version < 1:
        raise SeqgenError(f"{path}: damaged checkpoint config (unknown format_version {version})")
    for key in ("model", "codec"):
        if not isinstance(config.get(key), dict):
            raise SeqgenError(f"{path}: damaged checkpoint config (no '{key}' section)")
    for key in ("train", "data", "progress"):
        if not isinstance(config.setdefault(key, {}), dict):
            raise SeqgenError(f"{path}: damaged checkpoint config ('{key}' is not a section)")
    _check_fields(config, "", path)
    return config


NUMBER, NONE = (int, float), type(None)
# The config.json fields seqgen reads besides the codec section (which build() checks) and the training settings
# (which TrainConfig checks), with their JSON types; "[]" stands for each item of a list. A field may be absent;
# the reading options are passed on as keyword arguments, so no others are allowed there.
FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "model.vocab_size": int, "model.cell": str, "model.layers": int, "model.hidden": int, "model.embed": int,
    "model.dropout": NUMBER, "model.tie_weights": bool,
    "domain": str, "created": str, "seqgen_version": str, "parameters": int,
    "data.inputs": list, "data.inputs[]": str, "data.max_files": (int, NONE), "data.documents": int,
    "data.tokens": int, "data.train_tokens": int, "data.val_tokens": int, "data.hours": NUMBER,
    "data.transpose": int, "data.skipped": int, "data.skipped_examples": list, "data.skipped_examples[]": str,
    "data.pitch_range": list, "data.pitch_range[]": int,
    "data.val_inputs": list, "data.val_inputs[]": str, "data.val_documents": (int, NONE), "settings_from": dict,
    "data.read_options": dict, "data.read_options.sample_rate": (*NUMBER, NONE),
    "data.read_options.channel": (int, str, NONE), "data.read_options.column": (str, NONE),
    "data.read_options.gaps": str,
    "progress.step": int, "progress.epochs": NUMBER, "progress.tokens_seen": int, "progress.elapsed_s": NUMBER,
    "progress.best_val_loss": (*NUMBER, NONE), "progress.best_step": int, "progress.last_val_loss": (*NUMBER, NONE),
    "anomaly": dict, "anomaly.windows": list, "anomaly.windows[]": dict, "anomaly.windows[].window_s": NUMBER,
    "anomaly.windows[].threshold_bits": NUMBER,
    "unusual": dict, "unusual.windows": list, "unusual.windows[]": dict, "unusual.windows[].window_bases": int,
    "unusual.windows[].threshold_bits": NUMBER,
    "from": dict, "from.path": str, "from.best_val_loss": (*NUMBER, NONE), "from.model_card": (str, NONE),
    "from.added_tokens": list, "from.added_tokens[]": str,
}
CLOSED_SECTIONS = ("data.read_options",)


def _check_fields(value: Any, where: str, path: Path) -> None:
    """Check `value` (the config at field path `where`) and what it holds against FIELD_TYPES (a bool is no number)."""
    kind = FIELD_TYPES.get(where)
    if kind is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
        raise SeqgenError(f"{path}: damaged checkpoint config ({where} is {value!r})")
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            if where in CLOSED_SECTIONS and name not in FIELD_TYPES:
                raise SeqgenError(f"{path}: damaged checkpoint config (unknown field {name})")
            _check_fields(item, name, path)
    elif isinstance(value, list) and f"{where}[]" in FIELD_TYPES:
        for item in value:
            _check_fields(item, f"{where}[]", path)


def build(config: dict[str, Any], where: Path) -> tuple[SequenceModel, Codec]:
    """Model (fresh weights) and codec described by a checkpoint config (as read_config checked it)."""
    try:
        codec = codec_from_dict(config["codec"])
        model_config = ModelConfig.from_dict(config["model"])
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise SeqgenError(f"{where / CONFIG}: damaged checkpoint config ({e})") from None
    if codec.vocab_size != model_config.vocab_size:
        raise SeqgenError(f"{where / CONFIG}: damaged checkpoint config (the codec has {codec.vocab_size} tokens, "
                          f"the model {model_config.vocab_size})")
    return build_model(model_config), codec


def build_model(config: ModelConfig) -> SequenceModel:
    """A freshly initialised model, with a clear error when it does not fit in memory."""
    try:
        return SequenceModel(config)
    except (RuntimeError, MemoryError) as e:
        raise SeqgenError(f"cannot build a {config.layers} x {config.hidden} {config.cell} model "
                          f"({str(e).splitlines()[0]})") from None


def load(folder: str | Path, device: str | torch.device = "cpu") -> tuple[dict[str, Any], SequenceModel, Codec]:
    """Config, model with its best weights (in eval mode, on `device`) and codec of a checkpoint."""
    folder = Path(folder)
    config = read_config(folder)
    model, codec = build(config, folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise SeqgenError(f"{folder}: checkpoint has no {WEIGHTS} (training may not have saved yet)")
    try:
        missing, unexpected = load_model(model, str(weights), strict=False)
    except (SafetensorError, RuntimeError, OSError, ValueError) as e:
        raise SeqgenError(f"{weights}: damaged or truncated weights ({str(e).splitlines()[0]})") from None
    if missing or unexpected:
        raise SeqgenError(f"{weights}: weights do not match the config (missing {missing}, unexpected {unexpected})")
    return config, model.to(device).eval(), codec


def load_trainer_state(folder: Path) -> dict[str, Any]:
    """The resume state saved by the trainer."""
    path = folder / TRAINER
    if not path.is_file():
        raise SeqgenError(f"{folder}: cannot resume, the checkpoint has no {TRAINER}")
    try:
        with warnings.catch_warnings():  # a foreign pickle makes torch warn before refusing it
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's message would suggest weights_only=False: never for a foreign file
        raise SeqgenError(f"{path}: damaged trainer state (it holds Python objects besides tensors and plain values; "
                          "refused, since loading them could run code)") from None
    except Exception as e:  # torch raises a variety of types for damaged files
        raise SeqgenError(f"{path}: damaged trainer state ({str(e).splitlines()[0]})") from None
    missing = [k for k in TRAINER_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise SeqgenError(f"{path}: damaged trainer state (no {', '.join(missing)})")
    return state


def newest(root: str | Path = DEFAULT_ROOT) -> Path:
    """The most recently written checkpoint under `root` (what -c defaults to); the shipped models are not the user's
    own, even in a checkout, where ./checkpoints/ is also their home."""
    from seqgen import catalog

    root = Path(root)
    shipped = set(catalog.names()) if root.is_dir() and root.resolve() == catalog.shipped_root().resolve() else set()
    found = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and is_checkpoint(p)
             and p.name not in shipped] if root.is_dir() else []
    if not found:
        raise SeqgenError(f"no checkpoint under {root}/: train one with `seqgen train`, or pass -c DIR")
    return max(found, key=lambda p: (p / CONFIG).stat().st_mtime)
