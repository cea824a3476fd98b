import anndata
import numpy as np
import pytest
from click.testing import CliRunner

from mssvae import contract as C
from mssvae.cli import main

from conftest import make_adata

TINY_ARGS = ["--epochs", "2", "--batch-size", "32", "--n-shared", "3", "--n-specific", "2", "--hidden", "8", "6", "--quiet"]


@pytest.fixture
def h5ad(tmp_path):
    path = tmp_path / "in.h5ad"
    make_adata().write_h5ad(path)
    return path


def test_fit_writes_results_and_model(tmp_path, h5ad):
    out = tmp_path / "out.h5ad"
    res = CliRunner().invoke(main, ["fit", str(h5ad), "--group-key", "group", "--out", str(out), *TINY_ARGS])
    assert res.exit_code == 0, res.output
    a = anndata.read_h5ad(out)
    assert a.varm[C.W_SHARED].shape == (12, 3)
    assert (tmp_path / "out_model" / "model.pt").exists()
    assert "wrote" in res.output

    # --fold-switched: after a few epochs W is dense, so every group's columns share their genes
    folded = tmp_path / "folded.h5ad"
    res = CliRunner().invoke(main, ["fit", str(h5ad), "--group-key", "group", "--out", str(folded), "--fold-switched",
                                    *TINY_ARGS])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("folded into the shared block: ")]
    b = anndata.read_h5ad(folded)
    assert lines and list(b.uns[C.UNS]["folded"]) == [ln.split(": ", 1)[1] for ln in lines]
    assert b.varm[C.W_SHARED].shape == (12, 3 + len(lines))


def test_fit_with_several_starts_records_them_and_shows_stability(tmp_path, h5ad):
    out = tmp_path / "out.h5ad"
    res = CliRunner().invoke(main, ["fit", str(h5ad), "--group-key", "group", "--out", str(out), "--starts", "2",
                                    "--seed", "5", *TINY_ARGS])
    assert res.exit_code == 0, res.output
    uns = anndata.read_h5ad(out).uns[C.UNS]
    assert list(uns[C.STARTS]["seed"]) == [5, 6] and uns[C.STABILITY]["stability"].shape == (3 + 3 * 2,)
    assert f"kept the start of seed {uns[C.STARTS]['chosen']}" in res.output
    header = next(ln for ln in res.output.splitlines() if ln.split()[:1] == ["factor"])
    assert header.split()[-2:] == ["stability", "median_jaccard"]
    assert (tmp_path / "out_model" / "start_2" / "model.pt").exists() and (tmp_path / "out_model" / "model.pt").exists()
    res = CliRunner().invoke(main, ["fit", str(h5ad), "--group-key", "group", "--out", str(out), "--starts", "0"])
    assert res.exit_code != 0 and "--starts" in res.output


def test_fit_takes_the_settings_of_the_python_front_door(tmp_path, h5ad):
    out = tmp_path / "out.h5ad"
    res = CliRunner().invoke(main, ["fit", str(h5ad), "--group-key", "group", "--out", str(out), *TINY_ARGS,
                                    "--precision", "fp32", "--threads", "1", "--lr", "0.02", "--lr-w", "0.03",
                                    "--no-early-stopping", "--max-steps", "3", "--stopping-patience", "5",
                                    "--no-fold-nested"])
    assert res.exit_code == 0, res.output
    uns = anndata.read_h5ad(out).uns[C.UNS]
    assert uns[C.RUNTIME]["precision"] == "fp32" and uns[C.RUNTIME]["threads"] == 1
    assert uns[C.SETTINGS]["lr"] == 0.02 and uns[C.SETTINGS]["lr_w"] == 0.03 and list(uns[C.SETTINGS]["hidden"]) == [8, 6]
    assert not uns[C.SETTINGS]["early_stopping"] and uns[C.SETTINGS]["stopping_patience"] == 5
    assert not uns[C.SETTINGS]["fold_nested"] and len(uns[C.STOPPING]["folded"]) == 0
    assert uns[C.STOPPING]["reason"] == "max_steps" and uns[C.STOPPING]["steps"] == 3
    assert "W is still dense" in res.output  # said once, and no overlap notes of a dense W
    assert "share most genes" not in res.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["--group-key", "disease"], "'disease' is not a column of obs; available columns: group, donor"),
        (["--group-key", "group", "--layer", "raw"], "layer 'raw' not found"),
    ],
)
def test_fit_bad_input_is_one_clear_line(tmp_path, h5ad, args, message):
    res = CliRunner().invoke(main, ["fit", str(h5ad), "--out", str(tmp_path / "o.h5ad"), *args, *TINY_ARGS])
    assert res.exit_code != 0
    assert message in res.output and "Traceback" not in res.output


def test_fit_negative_counts_suggests_gaussian(tmp_path):
    a = make_adata(counts=False)
    path = tmp_path / "real.h5ad"
    a.write_h5ad(path)
    res = CliRunner().invoke(main, ["fit", str(path), "--group-key", "group", "--out", str(tmp_path / "o.h5ad"), *TINY_ARGS])
    assert res.exit_code == 1 and "--likelihood='gaussian'" in res.output and "--layer" in res.output


def test_fit_missing_or_broken_file(tmp_path):
    res = CliRunner().invoke(main, ["fit", str(tmp_path / "nope.h5ad"), "--group-key", "g", "--out", "o.h5ad"])
    assert res.exit_code == 2 and "does not exist" in res.output
    bad = tmp_path / "bad.h5ad"
    bad.write_text("not hdf5")
    res = CliRunner().invoke(main, ["fit", str(bad), "--group-key", "g", "--out", str(tmp_path / "o.h5ad")])
    assert res.exit_code == 1 and "cannot read" in res.output


def test_simulate_fit_evaluate_pipeline(tmp_path):
    sim, fitted = tmp_path / "sim.h5ad", tmp_path / "fit.h5ad"
    r = CliRunner().invoke(main, ["simulate", "gaussian", "--seed", "1", "--out", str(sim), "--n-per-group", "40"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["fit", str(sim), "--group-key", "group", "--likelihood", "gaussian", "--out", str(fitted),
                                  "--epochs", "2", "--quiet"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["evaluate", str(fitted), "--no-dci"])
    assert r.exit_code == 0, r.output
    assert '"consensus"' in r.output


def test_interrupted_fit_prints_a_resume_command_that_repeats_its_options(tmp_path, h5ad, monkeypatch):
    import shlex

    import mssvae.core.train as train

    def stop_at_first(epoch, total, record, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "_progress", stop_at_first)
    out = tmp_path / "out.h5ad"
    args = ["fit", str(h5ad), "--group-key", "group", "--out", str(out), *[a for a in TINY_ARGS if a != "--quiet"],
            "--lr", "0.005", "--no-early-stopping", "--set", "encoder_input=raw"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 130, res.output
    hint = res.output.split("resume: ", 1)[1].strip()
    words = shlex.split(hint)
    assert words[:2] == ["main", "fit"] and words[-1] == "--resume"
    for opt in ("--hidden 8 6", "--lr 0.005", "--no-early-stopping", "--set encoder_input=raw", "--batch-size 32"):
        assert opt in hint, opt
    monkeypatch.setattr(train, "_progress", lambda *a, **kw: None)
    res = CliRunner().invoke(main, words[1:])  # the resume command, as printed, continues the fit
    assert res.exit_code == 0, res.output
    assert anndata.read_h5ad(out).varm[C.W_SHARED].shape == (12, 3)


def test_demo_scores_its_programs_across_starts(tmp_path, monkeypatch):
    import mssvae.cli.demo as demo

    # the demo's reporting on data and a network small enough for W to end sparse in seconds
    small = make_adata(counts=True)
    small.obs["lineage"] = small.obs["group"]
    monkeypatch.setattr(demo, "example_data", lambda: small)
    monkeypatch.setattr(demo, "DEMO_SETTINGS", {**demo.DEMO_SETTINGS, "hidden": (8, 6), "n_shared": 3,
                                                "n_specific": 2, "batch_size": 32, "lambda0_breaks": None,
                                                "lr": 0.001, "sparsity_weight": 10.0})
    res = CliRunner().invoke(main, ["demo", "--out-dir", str(tmp_path), "--epochs", "40", "--starts", "2", "--seed", "3", "--quiet"])
    assert res.exit_code == 0, res.output
    a = anndata.read_h5ad(tmp_path / "pbmc_demo_mssvae.h5ad")
    assert list(a.uns[C.UNS][C.STARTS]["seed"]) == [3, 4]
    factor_lines = [ln for ln in res.output.splitlines() if "max|W|" in ln]
    assert factor_lines and all("stability" in ln for ln in factor_lines)
    assert (tmp_path / "stability.png").exists() and (tmp_path / "loadings.png").exists()
    assert (tmp_path / "model" / "start_2" / "model.pt").exists()
