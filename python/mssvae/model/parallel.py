"""Several starts of a fit at once, each in its own process (``MSSVAE.fit(starts=, parallel_starts=)``).

One process per core runs a 2-core machine better than one process with two threads
(benchmarks/FINDINGS.md, "Decoder speed on a CPU with AMX"), so the starts run as separate
processes, each on its share of the fit's threads. A process is a fresh interpreter
(:data:`CHILD`), not ``multiprocessing``, whose ``spawn`` re-runs the caller's script: the same
from a terminal, a script without a ``__main__`` guard, a notebook and R through reticulate. The
prepared input and the network's arguments are written once into a temporary folder that every
start reads; a start saves its finished model into its folder (``model_dir/start_i``, or a
temporary one) and the calling process loads it, so a start is the same model wherever it ran.

Ctrl-C (or R's interrupt, which reaches only the calling process) is passed on to every running
start: each saves its checkpoint, as a fit of one start does, and ``resume=True`` continues it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, replace
from pathlib import Path

import torch

from ..core.train import CHECKPOINT, STOP
from ..errors import FitInterrupted, MSSVAEInputError
from ..io.ondisk import H5Rows

#: The exit code of a start interrupted by Ctrl-C (its checkpoint, if any, saved).
INTERRUPTED = 3
#: Where a start that failed writes its error, in its output folder.
ERROR_FILE = "error.txt"
#: How often the calling process looks at its starts (seconds).
POLL = 0.2
#: A start's process: a fresh interpreter that runs :func:`_start_main` on the two files.
CHILD = ("import sys; from mssvae.model import MSSVAE; from mssvae.model.parallel import start_main; "
         "sys.exit(start_main(MSSVAE, sys.argv[1], sys.argv[2]))")


def _interrupt_once(signum, frame):
    """The first SIGINT interrupts the start; a second (a terminal's and the caller's both arrive)
    must not break the checkpoint being written."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def start_main(estimator: type, shared_file: str, job_file: str) -> int:
    """One start's process: an ``estimator`` (:class:`mssvae.MSSVAE`) trained and saved to the
    job's ``out_dir``; returns 0, ``INTERRUPTED`` on Ctrl-C, or 1 with ``ERROR_FILE`` written on
    an error."""
    signal.signal(signal.SIGINT, _interrupt_once)
    job = torch.load(job_file, weights_only=False)
    try:
        shared = torch.load(shared_file, weights_only=False)
        model = estimator(**shared["settings"])
        model.fitted_settings = shared["fitted_settings"]
        model._train(job["state"], job["seed"], job["ckpt_dir"], job["resume"], **shared["run"])
        model.save(job["out_dir"])
        return 0
    except FitInterrupted:
        return INTERRUPTED
    except BaseException:  # noqa: BLE001  (the caller reads it from the file)
        Path(job["out_dir"]).mkdir(parents=True, exist_ok=True)
        (Path(job["out_dir"]) / ERROR_FILE).write_text(traceback.format_exc())
        return 1


def start_workers(parallel_starts: int | None, starts: int, device, n_threads: int | None, inp) -> int:
    """How many of ``starts`` run at once: ``parallel_starts`` when given; else one per CPU thread
    of the fit (``n_threads``, the idle cores by default) on a CPU, and one on a GPU (several fits
    on one GPU are not measured). Input streamed from disk runs its starts one after another: its
    open file cannot go to another process."""
    if starts <= 1:
        return 1
    if isinstance(inp.X, H5Rows):
        if parallel_starts is not None and parallel_starts > 1:
            raise MSSVAEInputError(f"parallel_starts={parallel_starts}: input streamed from disk (backed) runs its "
                                   "starts one after another", hint="leave parallel_starts out, or load the data "
                                   "into memory", args_named=("parallel_starts",))
        return 1
    if parallel_starts is not None:
        return min(parallel_starts, starts)
    return max(1, min(starts, n_threads or 1)) if device.type == "cpu" else 1


def threads_per_start(n_threads: int | None, workers: int) -> int | None:
    """Each start's CPU threads when ``workers`` run at once on the fit's ``n_threads``."""
    return None if n_threads is None else max(1, n_threads // workers)


def run_starts(model, state, todo: list[int], seeds: list[int], dirs: list, resume: bool, workers: int, run: dict,
               say) -> dict:
    """Train the starts ``todo`` (indices into ``seeds`` and ``dirs``), at most ``workers`` at
    once, each in its own process; returns index → the finished :class:`mssvae.MSSVAE`.

    ``run`` holds the prepared input and the network's arguments (:meth:`MSSVAE._train`); ``say``
    prints a line per finished start (or is None). A callable ``run["progress"]`` (R's bar) is
    called as the starts run, with the starts finished in place of the epochs and a record
    ``{"starts_done", "starts_running"}``, and may return :data:`mssvae.core.train.STOP` to
    interrupt them. Raises :class:`mssvae.FitInterrupted` after
    every running start kept its work when the fit is interrupted, and ``RuntimeError`` with the
    start's traceback when one fails.
    """
    n_threads = threads_per_start(run["n_threads"], workers)
    report = run["progress"]
    done, running, queue = {}, {}, list(todo)
    package_root = str(Path(__file__).resolve().parents[2])  # importable in the child as it is here
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    with tempfile.TemporaryDirectory(prefix="mssvae-starts-") as tmp:
        shared_file = Path(tmp) / "shared.pt"
        torch.save({"settings": asdict(model.settings), "fitted_settings": model.fitted_settings,
                    "run": {**run, "n_threads": n_threads, "progress": False}}, shared_file)
        out_dirs = {i: Path(dirs[i]) if dirs[i] is not None else Path(tmp) / f"start_{i + 1}" for i in todo}

        def launch(i: int) -> None:
            job_file = Path(tmp) / f"job_{i + 1}.pt"
            torch.save({"state": replace(state, seed=seeds[i], runtime={**state.runtime, "threads": n_threads}),
                        "seed": seeds[i], "ckpt_dir": dirs[i], "out_dir": out_dirs[i],
                        "resume": resume and dirs[i] is not None and (Path(dirs[i]) / CHECKPOINT).exists()}, job_file)
            running[i] = subprocess.Popen([sys.executable, "-c", CHILD, str(shared_file), str(job_file)], env=env)

        interrupted = False
        try:
            while queue or running:
                while queue and len(running) < workers:
                    launch(queue.pop(0))
                time.sleep(POLL)
                if callable(report) and report(len(done), len(todo), {"starts_done": len(done),
                                                                      "starts_running": len(running)}) == STOP:
                    raise KeyboardInterrupt
                for i, p in list(running.items()):
                    if p.poll() is None:
                        continue
                    del running[i]
                    if p.returncode == 0:
                        done[i] = type(model).load(out_dirs[i], device=str(run["dev"]))
                        if say is not None:
                            say(f"mssvae: start {i + 1} of {len(seeds)} (seed {seeds[i]}): "
                                f"{done[i].state.stopping['message']}")
                    elif p.returncode == INTERRUPTED:
                        interrupted, queue = True, []
                    else:
                        error = out_dirs[i] / ERROR_FILE
                        why = error.read_text().strip() if error.exists() else f"its process exited with code {p.returncode}"
                        raise RuntimeError(f"start {i + 1} (seed {seeds[i]}) failed in its process:\n{why}")
        except KeyboardInterrupt:
            interrupted, queue = True, []
        finally:
            for p in running.values():  # R's interrupt reaches only this process: pass it on
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)
            for p in running.values():
                p.wait()
        if interrupted:
            top = None if dirs[0] is None else Path(dirs[0]).parent
            where = (f"; the finished starts and the checkpoints of the others are saved in {top} — resume all with "
                     "the same model_dir and resume=True (CLI: --resume)" if top is not None else
                     "; without model_dir the unfinished starts' work is not kept")
            raise FitInterrupted(f"fit of {len(seeds)} starts interrupted with {len(done)} of the {len(todo)} to run "
                                 f"finished{where}", None, None, None if top is None else str(top))
    return done

