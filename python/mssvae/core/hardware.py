"""What the machine offers a fit: the device, the decoder's arithmetic and the CPU threads.

Each choice is made once per fit, recorded in ``.uns["mssvae"]["runtime"]`` and printed with the
progress, so that a reader knows what ran.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from functools import lru_cache

import torch

from ..errors import MSSVAEInputError

PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")

#: CPU flags (Linux ``/proc/cpuinfo``) of native bf16 arithmetic: AVX-512 BF16 or AMX.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")

#: On CPUs with native bf16, the bf16 decoder wins only with wide enough hidden layers: at
#: [128, 64] and [256, 128] it ran 3.8–4.1× faster than a naive fp32 decoder, but at [50, 50]
#: (252 × 4,147, Gaussian) 3.5× slower than fp32 (Xeon with AMX; ``benchmarks/FINDINGS.md``,
#: "Decoder speed on a CPU with AMX"). "auto" therefore asks for both hidden widths to be at least this.
BF16_CPU_MIN_HIDDEN = 64

#: The CUDA compute capability from which bf16 arithmetic runs in hardware (Ampere, 8.0). Older
#: devices run bf16 by emulation where they run it at all (``torch.cuda.is_bf16_supported()``
#: answers True for those too), so "auto" asks for the capability instead.
BF16_CUDA_MIN_CAPABILITY = (8, 0)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` picks CUDA when present, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether the CPU advertises native bf16 arithmetic (AVX-512 BF16 or AMX); False where
    the flags cannot be read (non-Linux)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return any(f in flags for f in BF16_CPU_FLAGS)
    except OSError:
        pass
    return False


def cuda_device_info(device: torch.device) -> tuple[str, tuple[int, int]]:
    """The name and compute capability ``(major, minor)`` of the CUDA ``device`` (its index, or
    the current device where it has none)."""
    return torch.cuda.get_device_name(device), tuple(torch.cuda.get_device_capability(device))


def resolve_precision(precision: str, device: torch.device, hidden: tuple[int, ...]) -> tuple[str, str]:
    """The decoder's arithmetic for ``precision`` on ``device``, and why.

    ``"auto"``: bf16 on CUDA devices of compute capability :data:`BF16_CUDA_MIN_CAPABILITY` or
    higher, whose hardware runs it, fp16 (with the fused path's gradient scaling) on older ones; bf16 on CPUs with native bf16 when every hidden width is at least
    :data:`BF16_CPU_MIN_HIDDEN`; fp32 elsewhere. An explicit choice is kept as given.
    """
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"precision must be one of {PRECISION_CHOICES}, got {precision!r}")
    if precision != "auto":
        return precision, "as requested"
    if device.type == "cuda":
        name, capability = cuda_device_info(device)
        cc = f"{name}, compute capability {capability[0]}.{capability[1]}"
        if capability >= BF16_CUDA_MIN_CAPABILITY:
            return "bf16", f"{cc}, runs bf16 in hardware"
        return "fp16", f"{cc}, has no bf16 hardware (from 8.0)"
    if not cpu_has_native_bf16():
        return "fp32", "the CPU has no native bf16 (AVX-512 BF16 / AMX)"
    if min(hidden) < BF16_CPU_MIN_HIDDEN:
        return "fp32", f"hidden widths below {BF16_CPU_MIN_HIDDEN}, where bf16 is slower on CPUs"
    return "bf16", "the CPU has native bf16 and the hidden layers are wide"


def _cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies of all CPUs from ``/proc/stat``, or None where it is missing."""
    try:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return values[3] + values[4], sum(values[:8])  # idle + iowait; user … steal


def idle_cores(interval: float = 0.2) -> int:
    """Usable cores that other processes leave idle, sampled over ``interval`` seconds (the
    caller is idle meanwhile, so its own past load does not count), at least 1."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    first = _cpu_times()
    if first is None:
        return usable
    time.sleep(interval)
    second = _cpu_times()
    total = second[1] - first[1]
    if total <= 0:
        return usable
    busy = (1.0 - (second[0] - first[0]) / total) * (os.cpu_count() or usable)
    return max(1, min(usable, round(usable - busy)))


def default_threads() -> int:
    """PyTorch threads for a fit when the user sets none: the cores other processes leave
    idle. With every core in use, a core taken by another process stalls the threads that
    wait for it at each of the decoder's many parallel regions (docs/design.md,
    "Batch size, precision, threads and device")."""
    return idle_cores()


def check_threads(n) -> int:
    """``n`` as a thread count, or an :class:`~mssvae.errors.MSSVAEInputError` that says what is wrong."""
    try:
        ok = not isinstance(n, bool) and float(n).is_integer() and int(n) >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise MSSVAEInputError(f"threads must be a whole number >= 1, got {n!r}")
    return int(n)


@contextmanager
def torch_threads(n: int | None):
    """PyTorch's CPU threads set to ``n`` (None: left as they are) for the block, then restored."""
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(check_threads(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)
