"""Choosing the torch device from the user's `auto|cpu|cuda`."""

from __future__ import annotations

import torch

from seqgen.errors import SeqgenError


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` is CUDA when present, else CPU; asking for CUDA without one is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SeqgenError("--device cuda: no CUDA GPU is available to torch (a CPU build, or no driver?)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise SeqgenError(f"unknown device {name!r}; use auto, cpu or cuda") from None
