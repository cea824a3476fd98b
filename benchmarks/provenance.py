"""What produced a benchmark record: date, command, commit, machine and versions, as lines to
print at the head of its output, so that every figure can be traced to the code that made it."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def commit() -> str:
    """Short commit of the checkout, ``+dirty`` when python/ or r-package/ has uncommitted changes."""
    def git(*cmd):
        return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        return head + ("+dirty" if git("status", "--porcelain", "python", "r-package") else "")
    except OSError:
        return "unknown"


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


def header() -> list[str]:
    """The lines: date, command, commit, machine (CPU, cores, load), Python and R versions."""
    versions = []
    for pkg in ("torch", "numpy", "pandas", "anndata"):
        try:
            versions.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            versions.append(f"{pkg} not installed")
    return [
        f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"command: {' '.join([Path(sys.executable).name, *sys.argv])}",
        f"commit: {commit()}",
        f"machine: {cpu_model()}, {os.cpu_count()} cores, load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}",
        f"versions: Python {platform.python_version()}, {', '.join(versions)}, {r_version()}",
    ]
