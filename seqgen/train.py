"""The training loop: TBPTT over contiguous windows, AdamW, global-norm clipping, warmup + cosine LR,
optional bfloat16 autocast, periodic validation that keeps the best weights, exact resume, and progress
through a callback."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqgen import checkpoint, distributed
from seqgen.data import TBPTTBatches
from seqgen.errors import SeqgenError
from seqgen.models import SequenceModel, State, detach_state

PRECISIONS = ("fp32", "bf16")
_NO_SCALING = torch.amp.GradScaler("cpu", enabled=False)  # a pass-through: backward and step unscaled


@dataclass
class TrainConfig:
    """Optimisation settings; stored in the checkpoint. Budgets count the whole run, resumes included."""

    batch_size: int = 64
    seq_len: int = 128
    lr: float = 2e-3
    lr_schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    warmup_steps: int = 50
    weight_decay: float = 0.01
    clip: float = 1.0
    epochs: float | None = None
    max_steps: int | None = None
    max_time: float | None = None
    eval_every: int = 250
    log_every: int = 10
    val_fraction: float = 0.1
    transpose: int = 0
    seed: int = 0
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.epochs is None and self.max_steps is None and self.max_time is None:
            self.epochs = 10.0
        checks = {
            "batch_size": self.batch_size >= 1, "seq_len": self.seq_len >= 1, "lr": self.lr > 0,
            "clip": self.clip > 0, "eval_every": self.eval_every >= 1, "log_every": self.log_every >= 1,
            "warmup_steps": self.warmup_steps >= 0, "weight_decay": self.weight_decay >= 0,
            "epochs": self.epochs is None or self.epochs > 0,
            "max_steps": self.max_steps is None or self.max_steps >= 1,
            "max_time": self.max_time is None or self.max_time > 0,
            "lr_schedule": self.lr_schedule in ("cosine", "constant"),
            "min_lr_ratio": 0 <= self.min_lr_ratio <= 1,
            "seed": 0 <= self.seed < 2**63,
            "transpose": 0 <= self.transpose <= 24,
            "precision": self.precision in PRECISIONS,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training setting {bad[0]}={getattr(self, bad[0])!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class Progress:
    """What training reports: `kind` is "data" (input files read: `step` of `total`), "step" (a log
    interval), "eval" (a validation) or "note" (a message for the user)."""

    kind: str
    step: int
    fraction: float
    loss: float | None = None
    val_loss: float | None = None
    best_val_loss: float | None = None
    tokens_per_s: float | None = None
    lr: float | None = None
    message: str = ""
    total: int = 0


ProgressFn = Callable[[Progress], None]


@dataclass
class TrainResult:
    folder: Path
    steps: int
    final_val_loss: float | None
    best_val_loss: float | None
    final_train_loss: float | None
    elapsed: float
    interrupted: bool = False
    saved_step: int | None = None


def learning_rate(cfg: TrainConfig, step: int, fraction: float) -> float:
    """Linear warmup over `warmup_steps`, then cosine decay to lr * min_lr_ratio as `fraction` -> 1."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant":
        return cfg.lr
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(fraction, 1.0)))


def make_optimizer(model: SequenceModel, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices only (not on biases or the embedding table)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and not name.startswith("embedding") else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99))


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """The forward pass's context: bfloat16 autocast for "bf16" (fp32 weights stay the master copy); off for fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """Loss scaling for bf16 on CUDA, where autocast runs cuDNN's recurrent kernels in float16 whatever the dtype
    asked for, so their gradients would underflow unscaled; a pass-through everywhere else."""
    return torch.amp.GradScaler(device.type, enabled=precision == "bf16" and device.type == "cuda")


def train_step(model: SequenceModel, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               hidden: State | None, clip: float, precision: str = "fp32",
               scaler: torch.amp.GradScaler = _NO_SCALING) -> tuple[float, float, State]:
    """One BPTT step: forward pass under `precision`, loss in fp32, backward (through `scaler`), clip the global
    gradient norm to `clip`, update.

    Returns (loss, gradient norm before clipping, detached final state in fp32)."""
    with autocast(x.device, precision):
        logits, hidden = model(x, hidden)
    loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    scaler.step(opt)
    scaler.update()
    state = detach_state(hidden)  # bf16 cells return a bf16 state: carry it in fp32 like the weights
    return loss.item(), norm.item(), tuple(s.float() for s in state) if isinstance(state, tuple) else state.float()


@torch.no_grad()
def evaluate(model: SequenceModel, batches: TBPTTBatches, device: torch.device, precision: str = "fp32") -> float:
    """Mean next-token loss in nats over every token of the batched stream (forward pass under `precision`,
    the loss summed in fp32); under torchrun, over every rank's rows."""
    was_training = model.training
    model.eval()
    total, count, hidden = 0.0, 0, None
    for x, y in batches.all_windows():
        x, y = x.to(device), y.to(device)
        with autocast(device, precision):
            logits, hidden = model(x, hidden)
        total += F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    total, count = distributed.all_reduce_sum([total, count])
    return total / count


class Trainer:
    """Runs (or resumes) one training run into a checkpoint folder."""

    def __init__(self, model: SequenceModel, train_tokens: np.ndarray | Callable[[int], np.ndarray],
                 val_tokens: np.ndarray,
                 cfg: TrainConfig, folder: Path, run_config: dict[str, Any], device: torch.device,
                 progress: ProgressFn | None = None):
        self.model, self.cfg, self.folder, self.device = model.to(device), cfg, folder, device
        self.train_tokens, self.run_config = train_tokens, run_config
        self.val = distributed.shard_batches(TBPTTBatches(val_tokens, cfg.batch_size, cfg.seq_len)) \
            if len(val_tokens) >= 2 else None
        self.report = progress if progress is not None and distributed.is_main() else (lambda p: None)
        self.ddp = distributed.wrap(self.model, device)  # the model itself in a single process
        if cfg.precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise SeqgenError("--precision bf16: this GPU has no bfloat16 support; use --precision fp32")
        self.opt = make_optimizer(self.model, cfg)
        self.scaler = grad_scaler(device, cfg.precision)
        self.data_rng = torch.Generator().manual_seed(cfg.seed)
        self.s: dict[str, Any] = {"step": 0, "epoch": 0, "window": 0, "offset": 0, "elapsed": 0.0,
                                  "tokens": 0, "best_val": math.inf, "best_step": 0, "last_val": None}
        self.hidden: State | None = None
        self.saved_step: int | None = None
        self.batches = self._epoch_batches(new_offset=True)
        if (self.batches.batch_size, self.batches.seq_len) != (cfg.batch_size, cfg.seq_len):
            self.report(Progress("note", 0, 0.0, message=(
                f"the training data is too short for {cfg.batch_size} x {cfg.seq_len} batches: they shrink to "
                f"{self.batches.batch_size} x {self.batches.seq_len}")))

    # --- state -----------------------------------------------------------------------------------
    def _epoch_batches(self, new_offset: bool) -> TBPTTBatches:
        """This epoch's windows: the stream (fixed, or laid out anew per epoch) from a random offset."""
        tokens = self.train_tokens(self.s["epoch"]) if callable(self.train_tokens) else self.train_tokens
        if new_offset:
            high = max(1, min(self.cfg.seq_len, len(tokens) // 2))
            self.s["offset"] = int(torch.randint(0, high, (1,), generator=self.data_rng))
        offset = self.s["offset"] if len(tokens) - self.s["offset"] > 2 * self.cfg.seq_len else 0
        batches = TBPTTBatches(tokens, self.cfg.batch_size, self.cfg.seq_len, offset)
        self.s["shape"] = [batches.batch_size, batches.seq_len]
        return distributed.shard_batches(batches, even=True)

    def state_dict(self) -> dict[str, Any]:
        st = {"loop": dict(self.s), "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
              "data_rng": self.data_rng.get_state(), "torch_rng": torch.get_rng_state(),
              "hidden": distributed.gather_rows(self.hidden), "scaler": self.scaler.state_dict()}
        if torch.cuda.is_available():
            st["cuda_rng"] = torch.cuda.get_rng_state_all()
        return st

    def load_state_dict(self, st: dict[str, Any]) -> None:
        self.s.update(st["loop"])
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["optimizer"])
        if st.get("scaler"):  # saved by a scaled (bf16 on CUDA) run
            self.scaler.load_state_dict(st["scaler"])
        self.data_rng.set_state(st["data_rng"])
        torch.set_rng_state(st["torch_rng"])
        if "cuda_rng" in st and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(st["cuda_rng"])
        h = distributed.take_rows(st.get("hidden"))  # this rank's share of every stream, for any number of ranks
        self.hidden = tuple(t.to(self.device) for t in h) if isinstance(h, tuple | list) else (
            h.to(self.device) if h is not None else None)
        saved_shape = self.s.get("shape")
        self.batches = self._epoch_batches(new_offset=False)
        if saved_shape != self.s["shape"]:  # a new batch layout (or data): restart this epoch's windows
            self.s["window"], self.hidden = 0, None
        self.saved_step = self.s["step"]

    def reset_best(self) -> None:
        """Forget the best validation loss (after the validation data changed)."""
        self.s["best_val"], self.s["best_step"] = math.inf, 0

    # --- progress ----------------------------------------------------------------------------------
    def fraction(self) -> float:
        c, s = self.cfg, self.s
        parts = []
        if c.max_steps:
            parts.append(s["step"] / c.max_steps)
        if c.max_time:
            parts.append(s["elapsed"] / c.max_time)
        if c.epochs:
            parts.append((s["epoch"] + s["window"] / max(1, len(self.batches))) / c.epochs)
        return max(parts)

    # --- saving ------------------------------------------------------------------------------------
    def _save(self, val_loss: float | None) -> None:
        s = self.s
        improved = val_loss is not None and val_loss < s["best_val"]
        if improved:
            s["best_val"], s["best_step"] = val_loss, s["step"]
        state = self.state_dict()  # on every rank: it gathers the rows of the hidden state
        if distributed.is_main():
            self._write(state, improved, val_loss)
        distributed.barrier()  # nobody goes on (or reads the folder) before the checkpoint is complete
        self.saved_step = s["step"]

    def _write(self, state: dict[str, Any], improved: bool, val_loss: float | None) -> None:
        s = self.s
        if improved or self.val is None or not checkpoint.is_checkpoint(self.folder):
            checkpoint.save_weights(self.folder, self.model)
        checkpoint.save_trainer_state(self.folder, state)
        best = s["best_val"] if math.isfinite(s["best_val"]) else None
        checkpoint.save_config(self.folder, {
            **self.run_config, "train": self.cfg.to_dict(),
            "progress": {"step": s["step"], "epochs": round(s["epoch"] + s["window"] / max(1, len(self.batches)), 4),
                         "tokens_seen": s["tokens"], "elapsed_s": round(s["elapsed"], 1),
                         "best_val_loss": best, "best_step": s["best_step"] if best is not None else s["step"],
                         "last_val_loss": val_loss},
        })

    def _validate_and_save(self) -> float | None:
        val_loss = evaluate(self.model, self.val, self.device, self.cfg.precision) if self.val is not None else None
        self.s["last_val"] = val_loss
        self._save(val_loss)
        record = {"step": self.s["step"], "elapsed_s": round(self.s["elapsed"], 2), "val_loss": val_loss}
        self._log(record)
        best = self.s["best_val"] if math.isfinite(self.s["best_val"]) else None
        self.report(Progress("eval", self.s["step"], self.fraction(), val_loss=val_loss, best_val_loss=best))
        return val_loss

    def _log(self, record: dict[str, Any]) -> None:
        """A line of metrics.jsonl, written by rank 0 alone."""
        if distributed.is_main():
            checkpoint.append_metrics(self.folder, record)

    # --- the loop ----------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        cfg, s, model = self.cfg, self.s, self.model
        model.train()
        start_elapsed, t_start = s["elapsed"], time.perf_counter()
        win_tokens, win_loss, win_steps, win_t = 0, 0.0, 0, time.perf_counter()
        loss = None
        evaluated_at = -1
        distributed.vary_dropout(cfg.seed, s["step"])
        try:  # every stop decision goes through distributed.agree, so all ranks leave the loop at the same step
            while not distributed.agree(self.fraction() >= 1.0):
                if s["window"] >= len(self.batches):
                    s["epoch"] += 1
                    s["window"] = 0
                    self.batches = self._epoch_batches(new_offset=True)
                    self.hidden = None
                lr = learning_rate(cfg, s["step"], self.fraction())
                for g in self.opt.param_groups:
                    g["lr"] = lr
                x, y = self.batches.window(s["window"])
                x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
                loss, norm, self.hidden = train_step(self.ddp, self.opt, x, y, self.hidden, cfg.clip, cfg.precision,
                                                     self.scaler)
                loss = distributed.mean(loss)  # the global batch's loss (ranks hold equal shares)
                if distributed.agree(not math.isfinite(loss)):
                    saved = (f"the checkpoint keeps step {self.saved_step}" if self.saved_step is not None
                             else "nothing was saved")
                    raise SeqgenError(f"training diverged at step {s['step'] + 1} (loss {loss}); {saved}; "
                                      "lower --lr or --clip")
                s["step"] += 1
                s["window"] += 1
                tokens = x.numel() * distributed.world_size()
                s["tokens"] += tokens
                s["elapsed"] = distributed.maximum(start_elapsed + time.perf_counter() - t_start)
                win_tokens, win_loss, win_steps = win_tokens + tokens, win_loss + loss, win_steps + 1
                if s["step"] % cfg.log_every == 0:
                    now = time.perf_counter()
                    tps = win_tokens / (now - win_t)
                    self._log({
                        "step": s["step"], "elapsed_s": round(s["elapsed"], 2), "train_loss": win_loss / win_steps,
                        "lr": lr, "grad_norm": norm, "tokens_per_s": round(tps)})
                    self.report(Progress("step", s["step"], self.fraction(), loss=win_loss / win_steps,
                                         tokens_per_s=tps, lr=lr))
                    win_tokens, win_loss, win_steps, win_t = 0, 0.0, 0, now
                if s["step"] % cfg.eval_every == 0:
                    self._validate_and_save()
                    evaluated_at = s["step"]
                    s["elapsed"] = distributed.maximum(start_elapsed + time.perf_counter() - t_start)
        except KeyboardInterrupt:
            return self._result(loss, interrupted=True)
        if evaluated_at != s["step"]:
            self._validate_and_save()
            s["elapsed"] = distributed.maximum(start_elapsed + time.perf_counter() - t_start)
        return self._result(loss)

    def _result(self, loss: float | None, interrupted: bool = False) -> TrainResult:
        s = self.s
        best = s["best_val"] if math.isfinite(s["best_val"]) else None
        return TrainResult(self.folder, s["step"], s["last_val"], best, loss, s["elapsed"], interrupted,
                           self.saved_step)
