"""Fast single-token steps for generation, computed straight from a SequenceModel's weights.

Calling the multi-layer nn.LSTM/GRU module once per token pays its set-up cost every step. Here the
first layer's input projection of every vocabulary entry is precomputed into a table (an embedding
followed by a linear map is itself a lookup), the weights are transposed once, the LSTM's gates are
reordered so one sigmoid covers three of them, and the gate arithmetic uses fused ops (addmm with the
input projection as its bias, addcmul, lerp). Batch-1 generation is bound by reading the weights, so
what is left per step is little more than one pass over them. Results equal the module's up to rounding.

With `weights="int8"` the recurrent matrices are stored as 8-bit integers with one scale per output row
(PyTorch's fbgemm dynamic-quantisation kernels, CPU only): a quarter of the bytes to read per step, which
is what bounds large models (3 x 512 and up); logits move by about 1e-3, not 1e-5.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from seqgen.models import SequenceModel, State

WEIGHTS = ("fp32", "int8")


class DenseWeight:
    """bias + x @ W through addmm, with W stored transposed once."""

    def __init__(self, w_t: Tensor):
        self.w_t = w_t

    def __call__(self, bias: Tensor, x: Tensor) -> Tensor:
        return torch.addmm(bias, x, self.w_t)


class Int8Weight:
    """bias + x @ W with W as 8-bit integers and one scale per output row (fbgemm, CPU): 4x fewer bytes."""

    def __init__(self, w_t: Tensor):
        w = w_t.t().contiguous()
        scale = (w.abs().amax(1) / 127).clamp_min(1e-12).double()
        with warnings.catch_warnings():  # PyTorch marks its quantised tensor types as deprecated
            warnings.simplefilter("ignore")
            q = torch.quantize_per_channel(w, scale, torch.zeros(w.size(0), dtype=torch.long), 0, torch.qint8)
            self.packed = torch.ops.quantized.linear_prepack(q, None)

    def __call__(self, bias: Tensor, x: Tensor) -> Tensor:
        # reduce_range: the activations are quantised to 7 bits. fbgemm's AVX2 kernels (CPUs without VNNI) sum
        # pairs of u8 x s8 products in 16 bits, which saturates with 8-bit activations (max error 2.6 against 0.2
        # on a 256 x 512 product); PyTorch's own x86 quantisation settings do the same
        return torch.ops.quantized.linear_dynamic(x, self.packed, True).add_(bias)


def int8_available() -> bool:
    """Whether this PyTorch build has the x86 int8 kernels the int8 stepper uses."""
    return hasattr(torch.ops.quantized, "linear_dynamic") and bool(
        {"fbgemm", "x86"} & set(torch.backends.quantized.supported_engines))


class Stepper:
    """`step(tokens, state)` -> (logits, state) with the state laid out as nn.LSTM/GRU/RNN lay it out.

    `step_layers` is the same step on per-layer lists of tensors (no stacking), for generation loops.
    `banned` token ids get a -inf logit through the output bias, and the logits come out divided by
    `temperature` (folded into the output layer), both at no cost per step. `weights` is "fp32" (exact)
    or "int8" (CPU only, for speed on large models).
    """

    @torch.no_grad()
    def __init__(self, model: SequenceModel, banned: Sequence[int] = (), temperature: float = 1.0,
                 weights: str = "fp32"):
        if weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
        if weights == "int8" and (model.decoder.weight.device.type != "cpu" or not int8_available()):
            raise ValueError("int8 weights need the CPU and a PyTorch build with fbgemm int8 kernels")
        if weights == "int8" and model.config.cell == "rnn_relu":  # its inputs are quantised per step too
            raise ValueError("int8 weights are for lstm, gru and rnn_tanh models: a ReLU RNN's unbounded "
                             "activations lose too much in 8 bits")
        matrix: Callable[[Tensor], DenseWeight | Int8Weight] = Int8Weight if weights == "int8" else DenseWeight
        c, rnn = model.config, model.rnn
        self.cell, self.layers, h = c.cell, c.layers, c.hidden
        # LSTM gate rows i, f, g, o become i, f, o, g: one sigmoid over the first three quarters
        order = torch.cat([torch.arange(0, 2 * h), torch.arange(3 * h, 4 * h), torch.arange(2 * h, 3 * h)])
        self._order = order if c.cell == "lstm" else None
        emb = model.embedding.weight if model.embedding is not None else None
        self.w_ih: list[DenseWeight | Int8Weight | None] = []
        self.w_hh: list[DenseWeight | Int8Weight] = []
        self.b_ih: list[Tensor | None] = []
        self.b_hh: list[Tensor | None] = []
        for layer in range(c.layers):
            w_ih, w_hh, b_ih, b_hh = (self._gates(getattr(rnn, f"{name}_l{layer}"))
                                      for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            if c.cell != "gru":  # the GRU keeps b_hh apart: its reset gate multiplies W_hn h + b_hn
                b_ih, b_hh = b_ih + b_hh, None
            if layer == 0:
                self.table = ((emb @ w_ih.t()) if emb is not None else w_ih.t().contiguous()) + b_ih
                self.w_ih.append(None)
                self.b_ih.append(None)
            else:
                self.w_ih.append(matrix(w_ih.t().contiguous()))
                self.b_ih.append(b_ih)
            self.w_hh.append(matrix(w_hh.t().contiguous()))
            self.b_hh.append(b_hh)
        self.proj_t = model.proj.weight.t().contiguous() if model.proj is not None else None
        self.dec_w_t = model.decoder.weight.t() / temperature
        self.dec_b = model.decoder.bias.detach() / temperature
        self.dec_b[list(banned)] = float("-inf")

    def _gates(self, t: Tensor) -> Tensor:
        return t.detach()[self._order] if self._order is not None else t.detach()

    @torch.no_grad()
    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """tokens: [batch] ids; state: the model's state for the same batch."""
        if self.cell == "lstm":
            logits, hs, cs = self.step_layers(tokens, list(state[0].unbind(0)), list(state[1].unbind(0)))
            return logits, (torch.stack(hs), torch.stack(cs))
        logits, hs, _ = self.step_layers(tokens, list(state.unbind(0)), None)
        return logits, torch.stack(hs)

    def step_layers(self, tokens: Tensor, hs: list[Tensor], cs: list[Tensor] | None
                    ) -> tuple[Tensor, list[Tensor], list[Tensor] | None]:
        """One step on per-layer states hs (and cs for the LSTM), each [batch, hidden]."""
        n = hs[0].size(1)
        gi = self.table[tokens]
        new_h: list[Tensor] = []
        new_c: list[Tensor] = []
        for layer in range(self.layers):
            h = hs[layer]
            if layer > 0:
                gi = self.w_ih[layer](self.b_ih[layer], new_h[-1])
            if self.cell == "lstm":
                ifo, g = self.w_hh[layer](gi, h).split_with_sizes([3 * n, n], 1)
                i, f, o = torch.sigmoid(ifo).chunk(3, 1)
                c = torch.addcmul(f * cs[layer], i, torch.tanh(g))
                h = o * torch.tanh(c)
                new_c.append(c)
            elif self.cell == "gru":
                gi_rz, gi_n = gi.split_with_sizes([2 * n, n], 1)
                gh_rz, gh_n = self.w_hh[layer](self.b_hh[layer], h).split_with_sizes([2 * n, n], 1)
                r, z = torch.sigmoid(gi_rz + gh_rz).chunk(2, 1)
                h = torch.lerp(torch.tanh(torch.addcmul(gi_n, r, gh_n)), h, z)
            elif self.cell == "rnn_relu":
                h = torch.relu(self.w_hh[layer](gi, h))
            else:
                h = torch.tanh(self.w_hh[layer](gi, h))
            new_h.append(h)
        x = new_h[-1] if self.proj_t is None else new_h[-1] @ self.proj_t
        return torch.addmm(self.dec_b, x, self.dec_w_t), new_h, (new_c if self.cell == "lstm" else None)
