"""Which BLAS torch's matrix products run on, and keeping it torch's own inside R.

PyTorch's CPU wheels carry MKL inside ``libtorch_cpu.so`` and call its ``sgemm_``, ``dgemm_``,
LAPACK's routines and the rest through the library's procedure linkage table. The dynamic
linker resolves those calls in the global scope first, so in a process whose main program
already exports these symbols globally — R, whose ``libR.so`` links the system's BLAS and LAPACK
(Debian's reference ``libblas.so.3``) — torch's products run on that BLAS instead of MKL:
measured 2026-12-06 on a 2-core AMD EPYC, a 1,500 × 1,500 fp32 product on one thread took 1.37 s
inside R against 0.11 s in Python (``benchmarks/FINDINGS.md``, "torch's BLAS inside R").

:func:`isolate_torch_blas`, run by ``import mssvae`` before anything imports torch, loads
``libtorch_cpu.so`` with ``RTLD_DEEPBIND`` when (and only when) the global scope already
defines ``sgemm_``: torch's references then resolve to its own definitions first, and the
later ``import torch`` reuses the loaded library. Why this and not the alternatives: the
global scope is R's and cannot be changed from inside the process (R's BLAS is already
loaded); the system's BLAS is the user's set-up, not the package's; and a deep binding
limited to the one library whose symbols collide leaves every other library's binding as it
was. ``MSSVAE_DEEPBIND=0`` turns it off (for a process that interposes its own ``malloc``
with ``LD_PRELOAD``, which a deep-bound library would bypass).

:func:`torch_blas` reads, from the loaded library's relocation, where torch's ``sgemm_``
calls go: the test of the above, and a line of :func:`mssvae.bridge.version`.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import struct
import sys
import warnings

#: The symbol whose binding decides where torch's fp32 products run.
SYMBOL = "sgemm_"
LIBRARY = "libtorch_cpu.so"
ENV_SWITCH = "MSSVAE_DEEPBIND"


def _torch_library() -> str | None:
    """Path of ``libtorch_cpu.so`` in the installed torch, found without importing torch."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "lib", LIBRARY)
    return path if os.path.exists(path) else None


def global_definition(symbol: str = SYMBOL) -> str | None:
    """The file that defines ``symbol`` in the process's global scope, or None."""
    if not sys.platform.startswith("linux"):
        return None
    address = ctypes.cast(getattr(ctypes.CDLL(None), symbol, None) or 0, ctypes.c_void_p).value
    return _file_of(address) if address else None


def isolate_torch_blas() -> str:
    """Load torch's library with its own BLAS symbols bound first, where the process needs it.

    Returns what was done: ``"deepbind"`` (loaded with ``RTLD_DEEPBIND``), ``"not needed"`` (no
    other library exports ``sgemm_`` globally, as in a plain Python process), ``"too late"``
    (torch was imported earlier; :func:`warn_if_foreign` says whether that matters), ``"off"``
    (``MSSVAE_DEEPBIND=0``) or ``"unsupported"`` (not Linux, or no ``libtorch_cpu.so``).
    """
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return "off"
    if not sys.platform.startswith("linux") or not hasattr(os, "RTLD_DEEPBIND"):
        return "unsupported"
    if "torch" in sys.modules:
        return "too late"
    if global_definition() is None:
        return "not needed"
    path = _torch_library()
    if path is None:
        return "unsupported"
    ctypes.CDLL(path, mode=os.RTLD_NOW | os.RTLD_LOCAL | os.RTLD_DEEPBIND)
    return "deepbind"


def torch_blas(symbol: str = SYMBOL) -> dict:
    """Where the loaded torch's calls to ``symbol`` go.

    Reads the address the dynamic linker wrote into ``libtorch_cpu.so``'s jump slot for the
    symbol and names the file that holds it. Returns ``own`` (True when the calls stay in
    torch, False when another library's definition took them, None when it cannot be read)
    and ``library`` (that file's path).
    """
    unknown = {"own": None, "library": None}
    if not sys.platform.startswith("linux") or "torch" not in sys.modules:
        return unknown
    path = _torch_library()
    if path is None:
        return unknown
    try:
        handle = ctypes.CDLL(path, mode=os.RTLD_NOW | os.RTLD_NOLOAD)
        slot_offset, value = _jump_slot(path, symbol)
    except (OSError, ValueError):
        return unknown
    own = ctypes.cast(getattr(handle, symbol), ctypes.c_void_p).value
    bias = own - value  # where the library's address 0 was mapped
    target = ctypes.c_void_p.from_address(bias + slot_offset).value
    return {"own": target == own, "library": _file_of(target)}


def warn_if_foreign() -> None:
    """Warn, with the fix, when torch was imported before mssvae and its products run on
    another library's BLAS."""
    found = torch_blas()
    if found["own"] is False:
        warnings.warn(
            f"torch's matrix products run on {found['library']} (torch was loaded before mssvae in a "
            "process whose BLAS took them), which can make a fit several times slower: restart the "
            "session and load mssvae before anything imports torch (in R: call an mssvae function "
            "before reticulate::import('torch'))", RuntimeWarning, stacklevel=3)


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def _file_of(address: int) -> str | None:
    """The shared object whose mapping holds ``address`` (``dladdr``), as a real path."""
    libc = ctypes.CDLL(None)
    info = _DlInfo()
    if not libc.dladdr(ctypes.c_void_p(address), ctypes.byref(info)) or not info.dli_fname:
        return None
    return os.path.realpath(info.dli_fname.decode())


def _jump_slot(path: str, symbol: str) -> tuple[int, int]:
    """(offset of the symbol's GOT slot, the symbol's own value) from an ELF64 library's
    dynamic symbols and relocations; ValueError when the file has no such relocation."""
    import numpy as np  # here, not at the top: this module runs before anything heavy is imported

    section = np.dtype([("name", "<u4"), ("type", "<u4"), ("flags", "<u8"), ("addr", "<u8"), ("offset", "<u8"),
                        ("size", "<u8"), ("link", "<u4"), ("info", "<u4"), ("align", "<u8"), ("entsize", "<u8")])
    sym = np.dtype([("name", "<u4"), ("info", "u1"), ("other", "u1"), ("shndx", "<u2"), ("value", "<u8"),
                    ("size", "<u8")])
    rela = np.dtype([("offset", "<u8"), ("info", "<u8"), ("addend", "<i8")])
    with open(path, "rb") as fh:
        head = fh.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            raise ValueError("not an ELF64 file")
        shoff, = struct.unpack_from("<Q", head, 0x28)
        shnum, = struct.unpack_from("<H", head, 0x3C)
        fh.seek(shoff)
        sections = np.frombuffer(fh.read(shnum * section.itemsize), dtype=section)

        def read(i, dtype=np.uint8):
            fh.seek(int(sections["offset"][i]))
            return np.frombuffer(fh.read(int(sections["size"][i])), dtype=dtype)

        dynsym = np.flatnonzero(sections["type"] == 11)  # SHT_DYNSYM
        if not len(dynsym):
            raise ValueError("no dynamic symbol table")
        names = read(int(sections["link"][dynsym[0]])).tobytes()
        at = names.find(b"\0" + symbol.encode() + b"\0")
        syms = read(dynsym[0], sym)
        index = np.flatnonzero(syms["name"] == at + 1)
        if at < 0 or not len(index):
            raise ValueError(f"no symbol {symbol}")
        for i in np.flatnonzero(sections["type"] == 4):  # SHT_RELA
            entries = read(i, rela)
            hit = np.flatnonzero(((entries["info"] >> 32) == index[0])
                                 & np.isin(entries["info"] & 0xFFFFFFFF, (6, 7)))  # GLOB_DAT, JUMP_SLOT
            if len(hit):
                return int(entries["offset"][hit[0]]), int(syms["value"][index[0]])
    raise ValueError(f"no relocation of {symbol}")
