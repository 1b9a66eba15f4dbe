"""SequenceModel: token ids -> embedding (or one-hot) -> stacked LSTM/GRU/RNN -> next-token logits."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgen.choices import CELLS  # noqa: F401  (the cell names; imported from here too)
from seqgen.config import ModelConfig
from seqgen.precision import cpu_lstm_runs_bf16

State = Tensor | tuple[Tensor, Tensor]


class SequenceModel(nn.Module):
    """A stacked recurrent language model over token ids; it knows nothing about any domain.

    `rnn_relu` starts from the identity recurrent matrix with zero biases (IRNN), and the LSTM forget
    gate bias starts at 1: both keep gradients alive over long spans at the start of training.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.vocab_size < 1:
            raise ValueError(f"vocab_size must be at least 1, got {config.vocab_size}")
        self.config = c = config
        if c.embed > 0:
            self.embedding = nn.Embedding(c.vocab_size, c.embed)
            input_size = c.embed
        else:  # one-hot input: a fixed identity lookup, no parameters
            self.embedding = None
            self.register_buffer("one_hot", torch.eye(c.vocab_size), persistent=False)
            input_size = c.vocab_size
        rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn_tanh": nn.RNN, "rnn_relu": nn.RNN}[c.cell]
        kwargs = {"nonlinearity": c.cell[4:]} if c.cell.startswith("rnn_") else {}
        self.rnn = rnn_cls(input_size, c.hidden, c.layers, batch_first=True,
                           dropout=c.dropout if c.layers > 1 else 0.0, **kwargs)
        self.drop = nn.Dropout(c.dropout) if c.dropout > 0 else nn.Identity()
        out_size = c.embed if c.tie_weights else c.hidden
        self.proj = nn.Linear(c.hidden, c.embed, bias=False) if c.tie_weights and c.embed != c.hidden else None
        self.decoder = nn.Linear(out_size, c.vocab_size)
        if c.tie_weights:
            self.decoder.weight = self.embedding.weight
        self._init_recurrent()

    def _init_recurrent(self) -> None:
        h = self.config.hidden
        with torch.no_grad():
            for name, p in self.rnn.named_parameters():
                if self.config.cell == "rnn_relu":
                    if name.startswith("weight_hh"):
                        p.copy_(torch.eye(h))
                    elif name.startswith("bias"):
                        p.zero_()
                elif self.config.cell == "lstm" and name.startswith("bias_ih"):
                    p.zero_()
                    p[h : 2 * h] = 1.0  # gate order i, f, g, o
                elif self.config.cell == "lstm" and name.startswith("bias_hh"):
                    p.zero_()

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x: [batch, time] token ids -> logits [batch, time, vocab] and the final recurrent state."""
        emb = self.embedding(x) if self.embedding is not None else F.embedding(x, self.one_hot)
        h = self.drop(emb)
        if self._lstm_outside_autocast(h):  # oneDNN has no bf16 LSTM below AVX-512: this layer runs in fp32
            with torch.autocast("cpu", enabled=False):
                y, state = self.rnn(h.float(), state)
        else:
            y, state = self.rnn(h, state)
        y = self.drop(y)
        if self.proj is not None:
            y = self.proj(y)
        return self.decoder(y), state

    def _lstm_outside_autocast(self, h: Tensor) -> bool:
        """Whether this forward pass is an LSTM under CPU bf16 autocast on a CPU whose oneDNN has no bf16 LSTM."""
        return (self.config.cell == "lstm" and h.device.type == "cpu" and torch.is_autocast_enabled("cpu")
                and not cpu_lstm_runs_bf16())

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


ModelFn = TypeVar("ModelFn", bound=Callable[..., Any])


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode (no dropout) for the block, then the mode the model had: sampling or scoring in the middle of
    training must not switch the trainer's dropout off."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def in_eval_mode(fn: ModelFn) -> ModelFn:
    """Decorator: run fn(model, ...) with `evaluating(model)`."""

    @functools.wraps(fn)
    def wrapper(model: nn.Module, *args: Any, **kwargs: Any) -> Any:
        with evaluating(model):
            return fn(model, *args, **kwargs)

    return cast(ModelFn, wrapper)


def detach_state(state: State | None) -> State | None:
    """Cut the graph between TBPTT windows while keeping the values."""
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
