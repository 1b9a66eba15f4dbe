"""Which floating-point precision a forward pass runs in, decided from what the hardware reports and does.

bfloat16 autocast pays off only where the hardware computes bfloat16 natively: CPUs with AVX512-BF16 or AMX (x86)
or the BF16 extension (Arm), and CUDA GPUs with bf16 units. Elsewhere it is emulated and slower than fp32 (on a
Xeon with AVX-512 but no bf16 instructions an LSTM trained at 0.36x the fp32 speed). Nor do the flags settle it:
on a 2-core Intel Xeon that reports avx512_bf16 a GRU 2x256 trained at 0.45x the fp32 speed under bf16 autocast
(68 against 151 steps in 60 s). `auto` on a CPU therefore takes fp32 where the flags say bf16 is not native, and
elsewhere (native flags, or no flags to read) a short measured probe, cached per machine, decides. fp16 is a
CUDA precision only."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from seqgen.choices import PRECISIONS
from seqgen.errors import SeqgenError

if TYPE_CHECKING:  # imported by the functions that use it: the domains import this module to list corpora
    import torch

CPUINFO = Path("/proc/cpuinfo")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")  # x86 (AVX512-BF16, AMX) and Arm (FEAT_BF16) flag names
PROBE_SPEEDUP = 1.1  # the probe calls bf16 native when a bf16 training step is at least this much faster than fp32
_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}  # torch dtype names of the autocast precisions


@dataclass(frozen=True)
class Precision:
    """A decision: what was asked, what runs, why, and a warning when what runs will be slow."""

    asked: str
    chosen: str  # fp32, bf16 or fp16
    reason: str
    warning: str | None = None

    def note(self) -> str:
        """One line for the user: "precision bf16 (auto: ...)"."""
        return f"precision {self.chosen} ({'auto: ' if self.asked == 'auto' else ''}{self.reason})"

    def to_dict(self) -> dict[str, str]:
        return {"asked": self.asked, "chosen": self.chosen, "reason": self.reason}


def decide(asked: str, device: torch.device) -> Precision:
    """Resolve `asked` (one of PRECISIONS) for `device`; an impossible request is a SeqgenError."""
    if asked not in PRECISIONS:
        raise SeqgenError(f"unknown precision {asked!r}; use one of {', '.join(PRECISIONS)}")
    if device.type == "cuda":
        return _decide_cuda(asked, device)
    if asked == "fp16":
        raise SeqgenError("--precision fp16 runs on CUDA GPUs only; on a CPU use bf16 or fp32 (auto chooses)")
    if device.type != "cpu":
        if asked == "bf16":
            raise SeqgenError(f"--precision bf16 is not supported on {device.type}; use fp32")
        return Precision(asked, "fp32", f"{device.type} runs in fp32")
    if asked == "fp32":
        return Precision(asked, "fp32", "as asked")
    native, evidence = cpu_bf16()
    if asked == "auto":
        return Precision(asked, "bf16" if native else "fp32", evidence)
    if native:
        return Precision(asked, "bf16", evidence)
    return Precision(asked, "bf16", evidence, warning=(
        f"--precision bf16 on this CPU ({evidence}): bfloat16 is emulated or slow here and usually slower than "
        "fp32; --precision auto picks the faster one"))


def _decide_cuda(asked: str, device: torch.device) -> Precision:
    """CUDA: bf16 where the GPU has bf16 units (Ampere and later), else fp16 on GPUs with tensor cores (compute
    capability 7.0 and up, where cuDNN's fused recurrent kernels run in half precision), else fp32."""
    import torch

    name = torch.cuda.get_device_name(device)
    major, minor = torch.cuda.get_device_capability(device)
    where = f"{name}, compute capability {major}.{minor}"
    native = torch.cuda.is_bf16_supported(including_emulation=False)
    if asked == "fp32":
        return Precision(asked, "fp32", "as asked")
    if asked == "fp16":
        return Precision(asked, "fp16", where)
    if asked == "bf16":
        if native:
            return Precision(asked, "bf16", f"{where}: native bf16")
        if not torch.cuda.is_bf16_supported(including_emulation=True):
            raise SeqgenError(f"--precision bf16: this GPU ({where}) has no bfloat16 support; use fp16 or fp32")
        return Precision(asked, "bf16", f"{where}: bf16 emulated", warning=(
            f"--precision bf16 on a GPU without bf16 units ({where}): it is emulated and slower; "
            "--precision auto picks fp16 here"))
    if native:
        return Precision(asked, "bf16", f"{where}: native bf16")
    if major >= 7:
        return Precision(asked, "fp16", f"{where}: no bf16 units, fp16 tensor cores")
    return Precision(asked, "fp32", f"{where}: no bf16 units or tensor cores")


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo ("flags" on x86, "Features" on Arm); None where unreadable."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return None


def cpu_bf16() -> tuple[bool, str]:
    """Whether bfloat16 autocast trains faster than fp32 on this CPU, and the evidence in words: flags without
    native bf16 (no need to measure), else the flags and a cached probe."""
    flags = cpu_flags()
    found = [f for f in NATIVE_BF16_FLAGS if f in flags] if flags is not None else []
    if flags is not None and not found:
        return False, f"no {', '.join(NATIVE_BF16_FLAGS[:2])} in {CPUINFO}"
    fp32_s, bf16_s = probe_timings()
    speedup = fp32_s / bf16_s if bf16_s > 0 else 0.0
    reported = f"the CPU reports {' and '.join(found)}" if found else "no CPU flags to read"
    return speedup >= PROBE_SPEEDUP, f"{reported}; a measured bf16 step ran {speedup:.2f}x fp32"


def probe_timings() -> tuple[float, float]:
    """Seconds per training step of a small LSTM in fp32 and under bf16 autocast (inf where bf16 fails), measured
    once per machine and torch build and cached under ~/.cache/seqgen (XDG_CACHE_HOME honoured)."""
    import torch

    key = f"{platform.machine()}|torch {torch.__version__}|{torch.backends.cpu.get_cpu_capability()}"
    cache_file = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seqgen" / "precision-probe.json"
    try:
        cached = json.loads(cache_file.read_text())
        return float(cached[key]["fp32_s"]), float(cached[key]["bf16_s"])
    except (OSError, ValueError, KeyError, TypeError):
        cached = {}
    fp32_s, bf16_s = _time_step("fp32"), _time_step("bf16")
    try:
        cached = cached if isinstance(cached, dict) else {}
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(f".{cache_file.name}.{os.getpid()}")
        tmp.write_text(json.dumps({**cached, key: {"fp32_s": fp32_s, "bf16_s": bf16_s}}))
        tmp.replace(cache_file)
    except OSError:
        pass  # an unwritable cache only means measuring again next time
    return fp32_s, bf16_s


def _time_step(precision: str, repeats: int = 5) -> float:
    """Best time of a forward + backward step of a 1 x 256 LSTM on a 32 x 64 batch (after one warm-up step)."""
    import torch

    torch.manual_seed(0)
    lstm, x = torch.nn.LSTM(256, 256, batch_first=True), torch.randn(32, 64, 256)
    best = float("inf")
    try:
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            with autocast(torch.device("cpu"), precision):
                y, _ = lstm(x)
            y.float().sum().backward()
            if i:
                best = min(best, time.perf_counter() - t0)
    except RuntimeError:  # no bf16 kernel for this CPU at all
        return float("inf")
    return best


def autocast(device: torch.device, chosen: str) -> torch.autocast:
    """The forward pass's context for a chosen precision: bf16/fp16 autocast (fp32 weights stay the master copy);
    off for fp32."""
    import torch

    return torch.autocast(device.type, dtype=getattr(torch, _DTYPES.get(chosen, "bfloat16")), enabled=chosen in _DTYPES)


@cache
def cpu_lstm_runs_bf16() -> bool:
    """Whether oneDNN has a bfloat16 LSTM for this CPU (it has none below AVX-512, where autocast would fail);
    tried once per process on a tiny layer."""
    import torch

    lstm = torch.nn.LSTM(4, 4, batch_first=True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lstm(torch.zeros(1, 2, 4))
    except RuntimeError:
        return False
    return True
