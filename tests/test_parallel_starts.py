"""Several starts at once, each in its own process (mssvae.model.parallel)."""

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import mssvae
from mssvae import contract as C
from mssvae.core.train import CHECKPOINT
from mssvae.model.parallel import start_workers

from conftest import make_adata

TINY = dict(likelihood="nb", n_shared=3, n_specific=2, hidden=(8, 6), batch_size=32, seed=3, progress=False)


def test_starts_in_processes_are_the_starts_run_one_after_another(counts_adata):
    a, b = counts_adata.copy(), counts_adata.copy()
    mssvae.fit(a, starts=3, parallel_starts=2, threads=2, epochs=40, **TINY)  # one thread per start
    mssvae.fit(b, starts=3, threads=1, epochs=40, **TINY)
    np.testing.assert_array_equal(a.uns[C.UNS][C.STARTS]["objective"], b.uns[C.UNS][C.STARTS]["objective"])
    np.testing.assert_array_equal(a.varm[C.W_SHARED], b.varm[C.W_SHARED])
    np.testing.assert_array_equal(a.obsm[C.Z_SHARED], b.obsm[C.Z_SHARED])
    np.testing.assert_array_equal(a.uns[C.UNS][C.STABILITY]["jaccard"], b.uns[C.UNS][C.STABILITY]["jaccard"])
    assert a.uns[C.UNS][C.RUNTIME]["threads"] == 1


def test_how_many_starts_run_at_once():
    import torch

    class Inp:
        X = np.zeros((4, 2))

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert start_workers(None, 5, cpu, 2, Inp) == 2  # one per thread of the fit
    assert start_workers(None, 1, cpu, 8, Inp) == 1
    assert start_workers(None, 5, gpu, None, Inp) == 1
    assert start_workers(3, 2, gpu, None, Inp) == 2  # never more than the starts
    with pytest.raises(mssvae.MSSVAEInputError, match="parallel_starts"):
        mssvae.fit(make_adata(), starts=2, parallel_starts=0, **TINY)


SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests!r})
    from conftest import make_adata
    import mssvae
    try:
        mssvae.fit(make_adata(), starts=2, parallel_starts=2, threads=2, epochs=200, early_stopping=False,
                   model_dir={model_dir!r}, **{tiny!r})
        print(json.dumps({{"interrupted": False}}))
    except mssvae.FitInterrupted as e:
        print(json.dumps({{"interrupted": True, "message": str(e), "checkpoint_dir": e.checkpoint_dir}}))
""")


def test_an_interrupt_reaching_only_the_caller_stops_every_start_with_its_work_kept(tmp_path):
    """As R's interrupt does: SIGINT to the calling process alone; its starts save their
    checkpoints, and resume=True continues each from its own (a signal lands within an epoch, so
    the resumed fit continues from the interrupted weights, not bit for bit the uninterrupted fit)."""
    import torch

    script = tmp_path / "fit.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent), model_dir=str(tmp_path / "m"), tiny=TINY))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    checkpoints = [tmp_path / "m" / f"start_{i}" / CHECKPOINT for i in (1, 2)]
    deadline = time.time() + 120
    while not all(c.exists() for c in checkpoints) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out = json.loads(proc.communicate(timeout=120)[0].strip().splitlines()[-1])
    assert out["interrupted"], "the fit ended before the interrupt: make it longer"
    assert "resume all with the same model_dir" in out["message"] and out["checkpoint_dir"] == str(tmp_path / "m")
    kept = [torch.load(c, weights_only=False)["history"] for c in checkpoints]
    assert all(0 < len(h) < 200 for h in kept)
    assert not any((c.parent / "model.pt").exists() for c in checkpoints)

    resumed = make_adata()
    model = mssvae.fit(resumed, starts=2, parallel_starts=2, threads=2, epochs=200, early_stopping=False,
                       model_dir=tmp_path / "m", resume=True, **TINY)
    assert list(resumed.uns[C.UNS][C.STARTS]["seed"]) == [3, 4] and len(model.history) == 200
    for c, before in zip(checkpoints, kept):
        after = mssvae.MSSVAE.load(c.parent).history
        assert len(after) == 200 and after[:len(before)] == before  # continued, not started again


def test_a_progress_callback_sees_the_starts_and_can_stop_them(counts_adata):
    from mssvae.core.train import STOP

    seen = []

    def progress(done, total, record, final=False):
        seen.append((done, total, record))
        return STOP  # as R's bar does when the user interrupts

    with pytest.raises(mssvae.FitInterrupted, match="2 starts interrupted with 0 of the 2 to run finished"):
        mssvae.fit(counts_adata, starts=2, parallel_starts=2, threads=2, epochs=40,
                   **{**TINY, "progress": progress})
    assert seen[0] == (0, 2, {"starts_done": 0, "starts_running": 2})
