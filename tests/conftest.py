"""Shared fixtures: a small real text and one quickly trained character model reused across tests."""

from __future__ import annotations

from pathlib import Path

import pytest

import seqgen

DATA = Path(__file__).parent / "data"
SHAKESPEARE = DATA / "shakespeare-60k.txt"  # the first 60,000 characters of tiny-shakespeare


@pytest.fixture(scope="session")
def shakespeare() -> Path:
    return SHAKESPEARE


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer GRU trained for a few seconds on real English text (val loss well under uniform)."""
    out = tmp_path_factory.mktemp("ckpt") / "shakespeare-gru"
    result = seqgen.train(SHAKESPEARE, out, cell="gru", layers=1, hidden=128, embed=32, batch_size=32,
                          seq_len=64, max_steps=200, eval_every=100, lr=5e-3, device="cpu")
    assert result.final_val_loss is not None and result.final_val_loss < 2.6
    return out
