"""Fast single-token steps for generation, computed straight from a SequenceModel's weights.

Calling the multi-layer nn.LSTM/GRU module once per token pays its set-up cost every step. Here the
first layer's input projection of every vocabulary entry is precomputed into a table (an embedding
followed by a linear map is itself a lookup), so a step is one lookup plus, per layer, one or two
small matrix products and the cell's gate arithmetic. Results equal the module's up to rounding.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqgen.models import SequenceModel, State


class Stepper:
    """`step(tokens, state)` -> (logits, state) with the state laid out as nn.LSTM/GRU/RNN lay it out."""

    @torch.no_grad()
    def __init__(self, model: SequenceModel):
        c, rnn = model.config, model.rnn
        self.cell, self.layers = c.cell, c.layers
        emb = model.embedding.weight if model.embedding is not None else None
        self.w_ih_t, self.b_ih, self.w_hh_t, self.b_hh = [], [], [], []
        for layer in range(c.layers):
            w_ih, w_hh = getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}")
            b_ih, b_hh = getattr(rnn, f"bias_ih_l{layer}"), getattr(rnn, f"bias_hh_l{layer}")
            if layer == 0:
                self.table = ((emb @ w_ih.t()) if emb is not None else w_ih.t().contiguous()) + b_ih
                self.w_ih_t.append(None)
                self.b_ih.append(None)
            else:
                self.w_ih_t.append(w_ih.t().contiguous())
                self.b_ih.append(b_ih.detach())
            self.w_hh_t.append(w_hh.t().contiguous())
            self.b_hh.append(b_hh.detach())
        self.proj_t = model.proj.weight.t().contiguous() if model.proj is not None else None
        self.dec_w_t = model.decoder.weight.t().contiguous()
        self.dec_b = model.decoder.bias.detach()

    @torch.no_grad()
    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """tokens: [batch] ids; state: the model's state for the same batch."""
        lstm = self.cell == "lstm"
        hs, cs = (state[0], state[1]) if lstm else (state, None)
        new_h, new_c = [], []
        x = None
        for layer in range(self.layers):
            h = hs[layer]
            gi = self.table[tokens] if layer == 0 else torch.addmm(self.b_ih[layer], x, self.w_ih_t[layer])
            gh = torch.addmm(self.b_hh[layer], h, self.w_hh_t[layer])
            if lstm:
                i, f, g, o = (gi + gh).chunk(4, 1)
                c = torch.sigmoid(f) * cs[layer] + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                new_c.append(c)
            elif self.cell == "gru":
                ir, iz, inn = gi.chunk(3, 1)
                hr, hz, hn = gh.chunk(3, 1)
                r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
                n = torch.tanh(inn + r * hn)
                h = n + z * (h - n)
            elif self.cell == "rnn_relu":
                h = torch.relu(gi + gh)
            else:
                h = torch.tanh(gi + gh)
            new_h.append(h)
            x = h
        if self.proj_t is not None:
            x = x @ self.proj_t
        logits = torch.addmm(self.dec_b, x, self.dec_w_t)
        h_out = torch.stack(new_h)
        return logits, ((h_out, torch.stack(new_c)) if lstm else h_out)
