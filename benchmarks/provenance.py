"""What produced a benchmark record: date, command, commit, the sources' digest, machine, device
and versions, so that every figure can be traced to the code and the hardware that made it.

Two forms: :func:`header`, lines to print at the head of a text output, and :func:`record`, a
dict to put into every JSON record (``provenance`` key). From the shell (the GPU scripts):

    python benchmarks/provenance.py            # the header lines
    python benchmarks/provenance.py --json     # the record, one JSON line
    python benchmarks/provenance.py --require-commit   # the lines; exit 1 when the commit is unknown

The commit comes from git; where the source tree was copied without its ``.git`` (a GPU machine
that receives a working tree), from the environment variable ``MSSVAE_COMMIT``, marked as not
checked there. The digest of the sources (``python/mssvae`` and ``benchmarks/*.py``, ``*.sh``)
is computed from the files themselves, so a record made without git can still be matched to a
commit: ``python benchmarks/provenance.py --digest`` in a checkout of that commit prints the same.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The packages whose versions every record names.
PACKAGES = ("torch", "numpy", "pandas", "anndata", "scipy")

#: The environment variable that names the commit where the tree has no git (see the module's doc).
COMMIT_ENV = "MSSVAE_COMMIT"

UNKNOWN = "unknown"


def _git(*cmd: str) -> str:
    res = subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True)
    if res.returncode:
        raise OSError(res.stderr.strip() or f"git {' '.join(cmd)} failed")
    return res.stdout.strip()


def commit() -> str:
    """Short commit of the checkout, ``+dirty`` when the package (python/, r-package/) or the
    benchmark scripts (benchmarks/, its results/ aside) have uncommitted changes; else
    ``$MSSVAE_COMMIT (not checked: no git checkout)``; else ``unknown``."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--", "python", "r-package", "benchmarks", ":!benchmarks/results")
        return head + ("+dirty" if dirty else "")
    except OSError:
        named = os.environ.get(COMMIT_ENV, "").strip()
        return f"{named} (from {COMMIT_ENV}, not checked: no git checkout)" if named else UNKNOWN


def source_digest() -> str:
    """The first 12 hex digits of a SHA-256 over the package's Python sources and the benchmark
    scripts (paths and contents, in path order): the same tree gives the same digest, with or
    without git."""
    files = sorted([*ROOT.joinpath("python", "mssvae").rglob("*.py"), *ROOT.joinpath("benchmarks").glob("*.py"),
                    *ROOT.joinpath("benchmarks").glob("*.sh")])
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(ROOT).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def r_version() -> str:
    try:
        out = subprocess.run(["R", "--version"], capture_output=True, text=True).stdout
        return out.splitlines()[0] if out else "not found"
    except OSError:
        return "not found"


def versions() -> dict[str, str]:
    """Python's and :data:`PACKAGES`' versions (``not installed`` where missing), and the CUDA
    version torch was built with."""
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    try:
        import torch

        out["torch_cuda"] = torch.version.cuda or "none"
    except ImportError:
        pass
    return out


def gpus() -> list[dict]:
    """Name, compute capability and memory of each CUDA device torch sees (none: empty)."""
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        out.append(dict(name=p.name, capability=f"{p.major}.{p.minor}", memory_gib=round(p.total_memory / 2**30, 1)))
    return out


def device() -> dict:
    """The machine: CPU model and cores, and the CUDA devices (:func:`gpus`)."""
    return dict(cpu=cpu_model(), cores=os.cpu_count(), gpus=gpus())


def device_text(d: dict | None = None) -> str:
    """:func:`device` in words: the GPUs with their compute capability, or "no CUDA device"."""
    d = d or device()
    gpu = "; ".join(f"{g['name']} (compute capability {g['capability']}, {g['memory_gib']} GiB)" for g in d["gpus"])
    return f"{gpu or 'no CUDA device'}; CPU {d['cpu']}, {d['cores']} cores"


def record() -> dict:
    """What a JSON record carries as its ``provenance``: date, command, commit, digest of the
    sources, versions and device."""
    return dict(date=time.strftime("%Y-%m-%d %H:%M %Z"), command=" ".join([Path(sys.executable).name, *sys.argv]),
                commit=commit(), source_digest=source_digest(), versions=versions(), device=device())


def header(rec: dict | None = None) -> list[str]:
    """The lines: date, command, commit and sources' digest, machine (CPU, cores, load), device
    (GPUs with compute capability), Python, package and R versions."""
    rec = rec or record()
    v = rec["versions"]
    packages = ", ".join(f"{k} {v[k]}" for k in PACKAGES if k in v)
    cuda = f", CUDA {v['torch_cuda']}" if "torch_cuda" in v else ""
    return [
        f"date: {rec['date']}",
        f"command: {rec['command']}",
        f"commit: {rec['commit']} (sources {rec['source_digest']})",
        f"machine: {rec['device']['cpu']}, {rec['device']['cores']} cores, load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"device: {device_text(rec['device'])}",
        f"versions: Python {v['python']}, {packages}{cuda}, {r_version()}",
    ]


def runs_in(folder) -> tuple[Path, list[dict]]:
    """The ``runs.jsonl`` file of an output folder (made if missing) and the records already in it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "runs.jsonl", read_runs(folder / "runs.jsonl")


def read_runs(path: Path) -> list[dict]:
    """The records of a ``runs.jsonl`` file, one dict per line; none where it does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_run(path: Path, row: dict) -> None:
    """Append one record to a ``runs.jsonl`` file, so that an interrupted benchmark keeps its runs."""
    with Path(path).open("a") as fh:
        fh.write(json.dumps(row, default=str) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print the record as one JSON line")
    p.add_argument("--digest", action="store_true", help="print the sources' digest only")
    p.add_argument("--require-commit", action="store_true",
                   help=f"exit 1 when the commit is unknown (no git, no {COMMIT_ENV})")
    args = p.parse_args(argv)
    if args.digest:
        print(source_digest())
        return 0
    rec = record()
    print(json.dumps(rec) if args.json else "\n".join(header(rec)), flush=True)
    if args.require_commit and rec["commit"] == UNKNOWN:
        print(f"provenance: no git checkout and no {COMMIT_ENV}: the records would not name their commit; "
              f"run with {COMMIT_ENV}=<the commit the tree was copied from>", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
