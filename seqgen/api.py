"""The Python API: `train(...)` a model into a checkpoint folder, `load(path)` it, then `.sample()`
and `.score()`. The CLI is a thin layer over these functions."""

from __future__ import annotations

import math
import re
import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqgen import __version__, checkpoint
from seqgen.codecs import CharCodec, Codec
from seqgen.corpora import get_corpus
from seqgen.data import Document, read_text_documents, split_stream, to_array
from seqgen.device import resolve_device
from seqgen.errors import SeqgenError
from seqgen.models import ModelConfig, SequenceModel
from seqgen.sample import generate
from seqgen.score import ScoreResult, score_sequences
from seqgen.train import ProgressFn, TrainConfig, Trainer, TrainResult

DEFAULT_DATA = "folk-abc"
DEFAULT_DATA_BUDGET_S = 240.0  # the zero-argument `seqgen train` finishes in a few minutes on 2 CPU cores
DEFAULT_DATA_CELL = "gru"  # learns fastest per CPU second (tinyshakespeare, 600 s: GRU 1.47, LSTM 1.65 nats)
BUDGETS = ("max_time", "max_steps", "epochs")
MODEL_DEFAULTS = {"cell": "lstm", "layers": 2, "hidden": 256, "embed": 64, "dropout": 0.0, "tie_weights": False}


def load_documents(data: Sequence[str | Path]) -> list[Document]:
    """Documents from built-in corpus names, files, folders and globs."""
    docs: list[Document] = []
    paths: list[str | Path] = []
    for item in data:
        corpus = get_corpus(str(item))
        if corpus is not None and not Path(str(item)).exists():
            docs.extend(corpus.documents())
        else:
            paths.append(item)
    if paths:
        docs.extend(read_text_documents(paths))
    return docs


def encode_documents(codec: Codec, docs: Sequence[Document]) -> np.ndarray:
    """One compact token stream of the documents, as the codec lays them out for training."""
    return to_array(codec.encode_corpus([d.text for d in docs]), codec.vocab_size)


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
          boundaries: bool = False, overwrite: bool = False, **options: Any) -> TrainResult:
    """Train a model on `data` (corpus names, files, folders, globs; default: the folk-abc corpus).

    `options` are model settings (cell, layers, hidden, embed, dropout, tie_weights) and TrainConfig
    fields (batch_size, seq_len, lr, max_time, max_steps, epochs, seed, ...); unset ones take defaults.
    With `resume`, training continues in that checkpoint folder from its saved step; the model and codec
    come from the checkpoint and only the given training options change.
    """
    options = {k: v for k, v in options.items() if v is not None}
    unknown = set(options) - set(MODEL_DEFAULTS) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    if isinstance(data, str | Path):
        data = [data]
    dev = resolve_device(device)
    if resume is not None:
        clash = [name for name, given in (("--out", out is not None), ("--overwrite", overwrite),
                                          ("--sentences", boundaries)) if given]
        if clash:
            raise SeqgenError(f"--resume continues in its own folder with its own codec; drop {', '.join(clash)}")
        return _resume(Path(resume), list(data or []), options, dev, progress)

    data = list(data or [DEFAULT_DATA])
    if data == [DEFAULT_DATA]:
        options.setdefault("cell", DEFAULT_DATA_CELL)
        if not set(BUDGETS) & set(options):
            options["max_time"] = DEFAULT_DATA_BUDGET_S
    model_opts = {k: options.pop(k, v) for k, v in MODEL_DEFAULTS.items()}
    try:
        cfg = TrainConfig(**options)
    except ValueError as e:
        raise SeqgenError(str(e)) from None
    folder = Path(out) if out is not None else _default_folder(data, model_opts["cell"])
    if folder.exists() and not folder.is_dir():
        raise SeqgenError(f"{folder}: is a file; --out names the checkpoint folder to create")
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise SeqgenError(f"{folder}: already exists and is not empty; choose another --out, "
                          "continue it with --resume, or replace it with --overwrite")

    docs = load_documents(data)
    codec = CharCodec.fit((d.text for d in docs), boundaries=boundaries)
    tokens = encode_documents(codec, docs)
    train_tokens, val_tokens = split_stream(tokens, cfg.val_fraction)
    if len(train_tokens) < 2:
        raise SeqgenError(f"{', '.join(map(str, data))}: too little text to train on ({len(tokens)} tokens)")
    torch.manual_seed(cfg.seed)
    try:
        model_config = ModelConfig(vocab_size=codec.vocab_size, **model_opts)
    except ValueError as e:
        raise SeqgenError(str(e)) from None
    model = checkpoint.build_model(model_config)
    run_config = {
        "seqgen_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "domain": codec.domain,
        "codec": codec.to_dict(), "model": model.config.to_dict(), "parameters": model.num_parameters(),
        "data": _data_summary(data, docs, tokens, train_tokens, val_tokens),
    }
    # A new run writes into a folder of its own; with --overwrite the old checkpoint is replaced only once
    # the new one exists, and a run that ends without any checkpoint leaves nothing behind.
    work = folder.with_name(f".{folder.name}.new") if overwrite and folder.exists() else folder
    if work != folder and work.exists():
        shutil.rmtree(work)
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SeqgenError(f"{folder}: cannot create the checkpoint folder ({e.strerror})") from None
    try:
        result = Trainer(model, train_tokens, val_tokens, cfg, work, run_config, dev, progress).run()
    finally:
        kept = _settle(work, folder)
    if not kept:
        raise SeqgenError("interrupted before the first checkpoint was saved; nothing was kept")
    result.folder = folder
    return result


def _settle(work: Path, folder: Path) -> bool:
    """After a run, however it ended: keep its checkpoint in `folder` (replacing an old one), or remove
    the work folder when it holds none. Returns whether a checkpoint was kept."""
    if not checkpoint.is_checkpoint(work):
        shutil.rmtree(work)
        return False
    if work != folder:
        shutil.rmtree(folder)
        work.rename(folder)
    return True


def _resume(folder: Path, data: list[str | Path], options: dict[str, Any], dev: torch.device,
            progress: ProgressFn | None) -> TrainResult:
    config = checkpoint.read_config(folder)
    state = checkpoint.load_trainer_state(folder)
    model, codec = checkpoint.build(config, folder)
    ignored = set(options) & set(MODEL_DEFAULTS)
    if ignored:
        raise SeqgenError(f"--resume keeps the checkpoint's model; drop {', '.join(sorted(ignored))}")
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
    docs = load_documents(inputs)
    tokens = encode_documents(codec, docs)
    train_tokens, val_tokens = split_stream(tokens, cfg.val_fraction)
    if len(train_tokens) < 2:
        raise SeqgenError(f"{', '.join(map(str, inputs))}: too little data to train on ({len(tokens)} tokens)")
    run_config = {k: v for k, v in config.items() if k not in ("format", "format_version", "train", "progress")}
    run_config["data"] = {**config["data"], **_data_summary(inputs, docs, tokens, train_tokens, val_tokens)}
    trainer = Trainer(model, train_tokens, val_tokens, cfg, folder, run_config, dev, progress)
    try:
        trainer.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        raise SeqgenError(f"{folder / checkpoint.TRAINER}: does not match the checkpoint ({e})") from None
    if saved.get("val_fraction") != cfg.val_fraction or data:
        trainer.reset_best()  # a different validation set: losses are not comparable with the old best
    if trainer.fraction() >= 1.0:
        budget = ", ".join(f"--{k.replace('_', '-')} {getattr(cfg, k)}" for k in BUDGETS if getattr(cfg, k))
        raise SeqgenError(f"{folder}: already at step {trainer.s['step']}, which meets its budget ({budget}); "
                          "give a larger --max-steps, --max-time or --epochs to train on")
    return trainer.run()


def _data_summary(inputs: Sequence[str | Path], docs: Sequence[Document], tokens: np.ndarray,
                  train_tokens: np.ndarray, val_tokens: np.ndarray) -> dict[str, Any]:
    return {"inputs": [str(Path(str(d)).resolve()) if Path(str(d)).exists() else str(d) for d in inputs],
            "documents": len(docs), "tokens": int(len(tokens)),
            "train_tokens": int(len(train_tokens)), "val_tokens": int(len(val_tokens))}


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
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


class Model:
    """A trained checkpoint, ready to sample and score."""

    def __init__(self, path: Path, config: dict[str, Any], net: SequenceModel, codec: Codec, device: torch.device):
        self.path, self.config, self.net, self.codec, self.device = path, config, net, codec, device

    def known_ids(self, text: str, option: str) -> list[int]:
        """Token ids of a primer or stop string; unseen characters are an error, not silently <unk>."""
        bad = self.codec.unknown_chars(text)
        if bad:
            shown = ", ".join(repr(c) for c in bad[:10])
            raise SeqgenError(f"{option}: character(s) {shown} never occur in this model's training data")
        return self.codec.encode(text)

    def prime_ids(self, prime: str | None) -> list[int]:
        """Token context for a primer: the codec's start context, then the primer."""
        ids = list(self.codec.start_ids)
        if prime:
            ids += self.known_ids(prime, "--prime")
        if not ids:
            raise SeqgenError("this model needs a --prime to start from (its vocabulary has no newline)")
        return ids

    def sample(self, num: int = 1, length: int = 500, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, prime: str | None = None, seed: int | None = None,
               stop: str | None = None) -> list[str]:
        """`num` texts of up to `length` new tokens each, generated together; the primer is included."""
        stops = [self.codec.end_ids] if self.codec.end_ids else []
        if stop:
            stops.append(self.known_ids(stop, "--stop"))
        seed = secrets.randbits(31) if seed is None else seed
        try:
            outs = generate(self.net, self.prime_ids(prime), length, num, temperature, top_k, top_p, seed,
                            banned=self.codec.special_ids, stops=stops)
        except ValueError as e:
            raise SeqgenError(str(e)) from None
        return [(prime or "") + self.codec.decode(ids) for ids in outs]

    def score(self, texts: str | Sequence[str], batch_size: int = 64) -> list[TextScore]:
        """Log-probability of each text as a whole (with sentence boundaries: including its end)."""
        if isinstance(texts, str):
            texts = [texts]
        codec = self.codec
        seqs = [codec.encode(t) + list(codec.end_ids) for t in texts]
        results = score_sequences(self.net, seqs, codec.start_ids, batch_size=batch_size)
        out = []
        for t, seq, r in zip(texts, seqs, results, strict=True):
            shown = [codec.token_name(i) for i in seq]
            skipped = len(shown) - r.tokens
            out.append(TextScore(t, r, shown[skipped:], codec.unknown_chars(t)))
        return out

    def info(self) -> dict[str, Any]:
        """What the checkpoint is: domain, codec, model, data and training progress."""
        c = self.config
        return {
            "path": str(self.path), "domain": c.get("domain"), "codec": self.codec.describe(),
            "vocab_size": self.codec.vocab_size, "model": c["model"], "parameters": self.net.num_parameters(),
            "data": c.get("data", {}), "train": c.get("train", {}), "progress": c.get("progress", {}),
            "created": c.get("created"), "seqgen_version": c.get("seqgen_version"),
        }


def load(path: str | Path | None = None, device: str = "auto") -> Model:
    """Load a checkpoint folder (default: the newest under ./checkpoints/)."""
    folder = Path(path) if path is not None else checkpoint.newest()
    dev = resolve_device(device)
    config, net, codec = checkpoint.load(folder, dev)
    return Model(folder, config, net, codec, dev)
