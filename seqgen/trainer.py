"""The training loop: TBPTT over contiguous windows, AdamW, global-norm clipping, warmup + cosine LR,
optional bfloat16 autocast, periodic validation that keeps the best weights, exact resume, a divergence guard,
SIGINT/SIGTERM stopping at a step boundary with a checkpoint, and progress through a callback."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqgen import checkpoint, distributed
from seqgen.config import TrainConfig, from_known_fields
from seqgen.data import TBPTTBatches
from seqgen.errors import SeqgenError
from seqgen.models import SequenceModel, State, detach_state, evaluating
from seqgen.precision import Precision, autocast, decide
from seqgen.progress import Progress, ProgressFn  # noqa: F401  (defined there; imported from here too)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
LOSS_EMA = 0.1  # weight of each step's loss in the smoothed loss that the divergence guard watches
_NO_SCALING = torch.amp.GradScaler("cpu", enabled=False)  # a pass-through: backward and step unscaled


@dataclass
class TrainResult:
    folder: Path
    steps: int
    final_val_loss: float | None
    best_val_loss: float | None
    final_train_loss: float | None
    elapsed: float
    saved_step: int | None = None
    stop_signal: int | None = None  # SIGINT or SIGTERM when one stopped the run

    @property
    def interrupted(self) -> bool:
        """Whether a signal stopped the run before its budget was spent."""
        return self.stop_signal is not None


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


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """Loss scaling for fp16, and for bf16 on CUDA, where autocast runs cuDNN's recurrent kernels in float16
    whatever the dtype asked for, so their gradients would underflow unscaled; a pass-through everywhere else."""
    return torch.amp.GradScaler(device.type, enabled=precision in ("bf16", "fp16") and device.type == "cuda")


def train_step(model: SequenceModel, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               hidden: State | None, clip: float, precision: str = "fp32",
               scaler: torch.amp.GradScaler = _NO_SCALING) -> tuple[float, float, State]:
    """One BPTT step: forward pass under `precision` (a chosen one: fp32, bf16 or fp16), loss in fp32, backward
    (through `scaler`), clip the global gradient norm to `clip`, update.

    A non-finite gradient norm (an overflow) updates nothing, unless `scaler` is scaling the loss, which skips such
    steps itself and lowers its scale; the caller's divergence guard then stops the run on the norm it returns.

    Returns (loss, gradient norm before clipping, detached final state in fp32)."""
    # x, y: [batch, time] token ids, y being x one token later; `hidden` is the state the previous window of the
    # same rows ended in, so gradients stop at the window's start while the context reaches back further (TBPTT)
    with autocast(x.device, precision):
        logits, hidden = model(x, hidden)  # logits: [batch, time, vocab]
    # cross-entropy over all batch * time positions at once, in fp32 whatever the forward pass ran in
    loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)  # one norm over all weights: keeps direction
    if scaler.is_enabled() or torch.isfinite(norm):
        scaler.step(opt)
        scaler.update()
    state = detach_state(hidden)  # bf16 cells return a bf16 state: carry it in fp32 like the weights
    return loss.item(), norm.item(), tuple(s.float() for s in state) if isinstance(state, tuple) else state.float()


@torch.no_grad()
def evaluate(model: SequenceModel, batches: TBPTTBatches, device: torch.device, precision: str = "fp32") -> float:
    """Mean next-token loss in nats over every token of the batched stream (forward pass under `precision`,
    the loss summed in fp32); under torchrun, over every rank's rows."""
    total, count, hidden = 0.0, 0, None
    with evaluating(model):
        for x, y in batches.all_windows():  # [batch, time] windows in order, the state carried across them
            x, y = x.to(device), y.to(device)
            with autocast(device, precision):
                logits, hidden = model(x, hidden)
            total += F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1),
                                     reduction="sum").item()
            count += y.numel()
    total, count = distributed.all_reduce_sum([total, count])
    return total / count


@dataclass
class LoopState:
    """Where a run stands; saved in trainer.pt as a plain dict ("loop"), so that a resume continues exactly."""

    step: int = 0  # optimiser steps taken, resumes included
    epoch: int = 0
    window: int = 0  # the next TBPTT window of this epoch
    offset: int = 0  # this epoch's random start in the token stream
    elapsed: float = 0.0  # seconds of training, resumes included
    tokens: int = 0
    best_val: float = math.inf
    best_step: int = 0
    last_val: float | None = None
    loss_start: float | None = None  # the divergence guard's reference: the run's first loss
    loss_ema: float | None = None  # and its smoothed loss
    shape: list[int] | None = None  # [batch, seq_len] of this epoch's windows

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoopState:
        return from_known_fields(cls, d)


class Trainer:
    """Runs (or resumes) one training run into a checkpoint folder."""

    def __init__(self, model: SequenceModel, train_tokens: np.ndarray | Callable[[int], np.ndarray],
                 val_tokens: np.ndarray,
                 cfg: TrainConfig, folder: Path, run_config: dict[str, Any], device: torch.device,
                 progress: ProgressFn | None = None, trained_in: str | None = None):
        """`trained_in`: the precision a resumed run ran in before, so that a change of hardware is reported."""
        self.model, self.cfg, self.folder, self.device = model.to(device), cfg, folder, device
        self.train_tokens, self.run_config = train_tokens, run_config
        self.val = distributed.shard_batches(TBPTTBatches(val_tokens, cfg.batch_size, cfg.seq_len)) \
            if len(val_tokens) >= 2 else None
        self.report = progress if progress is not None and distributed.is_main() else (lambda p: None)
        self.ddp = distributed.wrap(self.model, device)  # the model itself in a single process
        self.precision: Precision = decide(cfg.precision, device)  # decided anew on each machine a run resumes on
        self.trained_in = trained_in
        self.opt = make_optimizer(self.model, cfg)
        self.scaler = grad_scaler(device, self.precision.chosen)
        self.data_rng = torch.Generator().manual_seed(cfg.seed)
        self.s = LoopState()
        self.hidden: State | None = None
        self.saved_step: int | None = None
        self.saved_elapsed = 0.0  # training seconds at the last save, for --save-every
        self.signal: int | None = None
        self.batches = self._epoch_batches(new_offset=True)
        if (self.batches.batch_size, self.batches.seq_len) != (cfg.batch_size, cfg.seq_len):
            self.report(Progress("note", 0, 0.0, message=(
                f"the training data is too short for {cfg.batch_size} x {cfg.seq_len} batches: they shrink to "
                f"{self.batches.batch_size} x {self.batches.seq_len}")))

    # --- state -----------------------------------------------------------------------------------
    def _epoch_batches(self, new_offset: bool) -> TBPTTBatches:
        """This epoch's windows: the stream (fixed, or laid out anew per epoch) from a random offset."""
        tokens = self.train_tokens(self.s.epoch) if callable(self.train_tokens) else self.train_tokens
        if new_offset:
            high = max(1, min(self.cfg.seq_len, len(tokens) // 2))
            self.s.offset = int(torch.randint(0, high, (1,), generator=self.data_rng))
        offset = self.s.offset if len(tokens) - self.s.offset > 2 * self.cfg.seq_len else 0
        batches = TBPTTBatches(tokens, self.cfg.batch_size, self.cfg.seq_len, offset)
        self.s.shape = [batches.batch_size, batches.seq_len]
        return distributed.shard_batches(batches, even=True)

    def state_dict(self) -> dict[str, Any]:
        st = {"loop": self.s.to_dict(), "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
              "data_rng": self.data_rng.get_state(), "torch_rng": torch.get_rng_state(),
              "hidden": distributed.gather_rows(self.hidden), "scaler": self.scaler.state_dict()}
        if torch.cuda.is_available():
            st["cuda_rng"] = torch.cuda.get_rng_state_all()
        return st

    def load_state_dict(self, st: dict[str, Any]) -> None:
        self.s = LoopState.from_dict(st["loop"])
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
        saved_shape = self.s.shape
        self.batches = self._epoch_batches(new_offset=False)
        if saved_shape != self.s.shape:  # a new batch layout (or data): restart this epoch's windows
            self.s.window, self.hidden = 0, None
        self.saved_step = self.s.step

    def reset_best(self) -> None:
        """Forget the best validation loss (after the validation data changed)."""
        self.s.best_val, self.s.best_step = math.inf, 0

    # --- progress ----------------------------------------------------------------------------------
    def fraction(self) -> float:
        c, s = self.cfg, self.s
        parts = []
        if c.max_steps:
            parts.append(s.step / c.max_steps)
        if c.max_time:
            parts.append(s.elapsed / c.max_time)
        if c.epochs:
            parts.append((s.epoch + s.window / max(1, len(self.batches))) / c.epochs)
        return max(parts)

    # --- saving ------------------------------------------------------------------------------------
    def _kept(self) -> str:
        """What the checkpoint folder holds, for error messages."""
        return f"the checkpoint keeps step {self.saved_step}" if self.saved_step is not None else "nothing was saved"

    def _save(self, val_loss: float | None) -> None:
        """Write the best weights (when `val_loss`, this step's validation loss, improved on them), then trainer.pt,
        then config.json; a failed write (full disk, read-only folder) leaves the previous checkpoint complete and
        says which step it holds. A save between validations passes None."""
        s = self.s
        improved = val_loss is not None and val_loss < s.best_val
        if improved:
            s.best_val, s.best_step = val_loss, s.step
        state = self.state_dict()  # on every rank: it gathers the rows of the hidden state
        error = None
        if distributed.is_main():
            try:
                self._write(state, improved)
            except SeqgenError as e:
                error = f"{e}; {self._kept()}"
        if distributed.agree(error is not None):  # (also the barrier: nobody reads a half-written folder)
            raise SeqgenError(error or f"rank 0 could not save the checkpoint; {self._kept()}")
        self.saved_step, self.saved_elapsed = s.step, s.elapsed

    def _write(self, state: dict[str, Any], improved: bool) -> None:
        """Rank 0's part of `_save`: the three files, each written atomically."""
        s = self.s
        best = s.best_val if math.isfinite(s.best_val) else None
        if improved or self.val is None or not checkpoint.is_checkpoint(self.folder):
            checkpoint.save_weights(self.folder, self.model)
        checkpoint.save_trainer_state(self.folder, state)
        checkpoint.save_config(self.folder, {
            **self.run_config, "train": self.cfg.to_dict(), "precision": self.precision.to_dict(),
            "progress": {"step": s.step, "epochs": round(s.epoch + s.window / max(1, len(self.batches)), 4),
                         "tokens_seen": s.tokens, "elapsed_s": round(s.elapsed, 1),
                         "best_val_loss": best, "best_step": s.best_step if best is not None else s.step,
                         "last_val_loss": s.last_val},
        })

    def _validate_and_save(self) -> float | None:
        val_loss = evaluate(self.model, self.val, self.device, self.precision.chosen) if self.val is not None else None
        self.s.last_val = val_loss
        self._save(val_loss)
        record = {"step": self.s.step, "elapsed_s": round(self.s.elapsed, 2), "val_loss": val_loss}
        self._log(record)
        best = self.s.best_val if math.isfinite(self.s.best_val) else None
        self.report(Progress("eval", self.s.step, self.fraction(), val_loss=val_loss, best_val_loss=best))
        return val_loss

    # --- the loop ----------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """Train until the budget is spent or SIGINT/SIGTERM asks to stop, then validate and save."""
        cfg, s, model = self.cfg, self.s, self.model
        self._report_precision()
        model.train()
        start_elapsed, t_start = s.elapsed, time.perf_counter()
        win_tokens, win_loss, win_steps, win_t = 0, 0.0, 0, time.perf_counter()
        loss = None
        evaluated_at = -1
        distributed.vary_dropout(cfg.seed, s.step)
        self.saved_elapsed = s.elapsed
        with self._stop_signals():  # every stop decision goes through distributed.agree: all ranks stop together
            while not distributed.agree(self.fraction() >= 1.0 or self._stop_requested()):
                if s.window >= len(self.batches):  # an epoch is done: lay the stream out anew, state from zero
                    s.epoch += 1
                    s.window = 0
                    self.batches = self._epoch_batches(new_offset=True)
                    self.hidden = None
                lr = learning_rate(cfg, s.step, self.fraction())
                for g in self.opt.param_groups:
                    g["lr"] = lr
                x, y = self.batches.window(s.window)  # [batch, seq_len]: row r continues row r of the last window
                x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
                loss, norm, self.hidden = train_step(self.ddp, self.opt, x, y, self.hidden, cfg.clip,
                                                     self.precision.chosen, self.scaler)
                loss = distributed.mean(loss)  # the global batch's loss (ranks hold equal shares)
                self._check_divergence(loss, norm)  # the same loss, norm and history on every rank: all raise together
                s.step += 1
                s.window += 1
                tokens = x.numel() * distributed.world_size()  # every rank trained on as many
                s.tokens += tokens
                s.elapsed = distributed.maximum(start_elapsed + time.perf_counter() - t_start)
                win_tokens, win_loss, win_steps = win_tokens + tokens, win_loss + loss, win_steps + 1
                if s.step % cfg.log_every == 0:
                    now = time.perf_counter()
                    tps = win_tokens / (now - win_t)
                    self._log({
                        "step": s.step, "elapsed_s": round(s.elapsed, 2), "train_loss": win_loss / win_steps,
                        "lr": lr, "grad_norm": norm, "tokens_per_s": round(tps)})
                    self.report(Progress("step", s.step, self.fraction(), loss=win_loss / win_steps,
                                         tokens_per_s=tps, lr=lr))
                    win_tokens, win_loss, win_steps, win_t = 0, 0.0, 0, now
                if s.step % cfg.eval_every == 0:
                    self._validate_and_save()
                    evaluated_at = s.step
                    s.elapsed = distributed.maximum(start_elapsed + time.perf_counter() - t_start)
                elif cfg.save_every is not None and s.elapsed - self.saved_elapsed >= 60 * cfg.save_every:
                    self._save(None)  # between validations, which can be an hour apart: a kill loses minutes
                    s.elapsed = distributed.maximum(start_elapsed + time.perf_counter() - t_start)
            if evaluated_at != s.step:
                self._validate_and_save()
                s.elapsed = distributed.maximum(start_elapsed + time.perf_counter() - t_start)
        return self._result(loss)

    def _report_precision(self) -> None:
        """Say once what the forward pass runs in, what changed since the run last trained, and whether it will be
        slow."""
        info = self.precision.note()
        if self.trained_in is not None and self.trained_in != self.precision.chosen:
            info += f"; changed: until this resume the run trained in {self.trained_in}"
        self.report(Progress("info", self.s.step, self.fraction(), message=info))
        if self.precision.warning:
            self.report(Progress("note", self.s.step, self.fraction(), message=f"warning: {self.precision.warning}"))

    @contextmanager
    def _stop_signals(self) -> Iterator[None]:
        """While training, SIGINT and SIGTERM ask the loop to stop at the next step boundary (a second one aborts at
        once, unsaved); installed from the main thread only, the previous handlers restored afterwards."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def request_stop(signum: int, frame: object) -> None:
            if self.signal is not None:
                raise KeyboardInterrupt
            self.signal = signum

        previous = {sig: signal.signal(sig, request_stop) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    def _stop_requested(self) -> bool:
        """Whether a signal asked this run to stop (the decision taken at each step boundary)."""
        return self.signal is not None

    def _check_divergence(self, loss: float, grad_norm: float) -> None:
        """Stop, saving nothing, when the loss of the step about to count is not finite, when its gradient norm is
        not finite in an unscaled run (train_step then updated nothing), or when the smoothed loss (an exponential
        moving average, so a single spike passes) exceeds the run's first loss by max(2 nats, half of it): a model
        predicting clearly worse than it did untrained is diverging, and its next save would replace a good
        checkpoint. Warmup is watched too, since a save during warmup would keep a diverged model."""
        s, step = self.s, self.s.step + 1
        if math.isfinite(loss):
            if s.loss_start is None:
                s.loss_start = s.loss_ema = loss
            s.loss_ema += LOSS_EMA * (loss - s.loss_ema)
            start, smoothed = s.loss_start, s.loss_ema
            if not math.isfinite(grad_norm) and not self.scaler.is_enabled():
                loss_text = f"gradient norm {grad_norm}"
            elif smoothed <= start + max(2.0, start / 2):
                return
            else:
                loss_text = f"smoothed loss {smoothed:.3g} nats/token against {start:.3g} at the start"
        else:
            loss_text = f"loss {loss}"
        raise SeqgenError(f"training diverged at step {step} ({loss_text}); {self._kept()}; lower --lr or --clip")

    def _log(self, record: dict[str, Any]) -> None:
        """Append to metrics.jsonl (rank 0 alone); a failing write says which step the checkpoint keeps."""
        if not distributed.is_main():
            return
        try:
            checkpoint.append_metrics(self.folder, record)
        except SeqgenError as e:
            raise SeqgenError(f"{e}; {self._kept()}") from None

    def _result(self, loss: float | None) -> TrainResult:
        s = self.s
        best = s.best_val if math.isfinite(s.best_val) else None
        stopped_by = self.signal if self.fraction() < 1.0 else None  # a signal during the final save stops nothing
        return TrainResult(self.folder, s.step, s.last_val, best, loss, s.elapsed, self.saved_step, stopped_by)
