"""Input that stays on disk: rows of an .h5ad's X read in blocks and minibatches (mssvae.io.ondisk)."""

import anndata
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

import mssvae
from mssvae import bridge
from mssvae import contract as C
from mssvae.cli import main
from mssvae.core.train import Trainer
from mssvae.io import inputs, ondisk
from mssvae.io.inputs import check_values, row_blocks
from mssvae.io.ondisk import H5Rows, write_backed

FAST = dict(n_shared=2, n_specific=1, hidden=(8, 8), epochs=3, batch_size=64, lambda0_breaks=(1, 2), progress=False,
            seed=0, threads=1)


def _counts(n=1500, g=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(2.0, size=(n, g)).astype(np.float32)
    X[:, 3] = 0  # a column without entries
    obs = pd.DataFrame({"group": np.repeat(["a", "b", "c"], n // 3)}, index=[f"c{i}" for i in range(n)])
    return X, obs


@pytest.fixture(params=["csr", "dense"])
def on_disk(request, tmp_path):
    X, obs = _counts()
    a = anndata.AnnData(X=sp.csr_matrix(X) if request.param == "csr" else X, obs=obs)
    path = tmp_path / "a.h5ad"
    a.write_h5ad(path)
    return X, obs, path


def test_rows_blocks_and_columns_read_what_is_stored(on_disk):
    X, _, path = on_disk
    rows = H5Rows(path)
    assert rows.shape == X.shape and len(rows) == 1500

    def dense(m):
        return m.toarray() if sp.issparse(m) else m

    np.testing.assert_array_equal(dense(rows[10:70]), X[10:70])
    idx = np.array([250, 3, 3, 4, 5, 120, 0])  # unsorted, repeated, with a run
    np.testing.assert_array_equal(dense(rows[idx]), X[idx])
    mask = np.arange(40) % 3 != 0
    sub = rows.with_columns(mask)
    assert sub.shape == (1500, int(mask.sum()))
    np.testing.assert_array_equal(dense(sub[idx]), X[idx][:, mask])
    inner = np.arange(mask.sum()) % 2 == 0
    np.testing.assert_array_equal(dense(sub.with_columns(inner)[5:9]), X[5:9][:, mask][:, inner])
    blocks = np.vstack([b for _, b in row_blocks(rows, rows=64)])
    np.testing.assert_array_equal(blocks, X.astype(np.float64))


def test_a_fit_reads_its_input_once_and_not_again_after_training(on_disk, monkeypatch):
    """The input is checked and its start statistics computed before training, each pass reading
    the file once, and the results writer reuses that prepared input: after the last minibatch
    the file is read once more, for the latents, and never checked again."""
    _, _, path = on_disk
    reads = []  # "pass": a read that starts at the first row
    read_rows, read_block, run = H5Rows._read_rows, H5Rows._read_block, Trainer.run
    monkeypatch.setattr(H5Rows, "_read_rows", lambda self, r: (reads.append("pass" if r[0] == 0 else "rows"),
                                                                read_rows(self, r))[1])
    monkeypatch.setattr(H5Rows, "_read_block", lambda self, a, b: (reads.append("pass" if a == 0 else "block"),
                                                                    read_block(self, a, b))[1])
    monkeypatch.setattr(Trainer, "run", lambda self, *a, **k: (reads.append("train"), run(self, *a, **k),
                                                                reads.append("trained"))[1])
    backed = anndata.read_h5ad(path, backed="r")
    mssvae.fit(backed, group_key="group", **FAST)
    before, after = reads[:reads.index("train")], reads[reads.index("trained"):]
    # NB: one pass checks the values, two give the moments, one the library sizes, one the
    # output bias and two the encoders' input standardisation
    assert before.count("pass") == 7, before
    # after training, one pass for the latents; the input is not checked again
    assert after.count("pass") == 1, after
    assert C.Z_SHARED in backed.obsm


def test_a_backed_fit_equals_the_fit_in_memory_and_reads_in_blocks(on_disk, monkeypatch):
    X, obs, path = on_disk
    loaded = anndata.read_h5ad(path)
    in_memory = mssvae.fit(loaded, group_key="group", **FAST)
    largest = []
    read_rows, read_block = H5Rows._read_rows, H5Rows._read_block
    monkeypatch.setattr(H5Rows, "_read_rows", lambda self, r: (largest.append(len(r)), read_rows(self, r))[1])
    monkeypatch.setattr(H5Rows, "_read_block", lambda self, a, b: (largest.append(b - a), read_block(self, a, b))[1])
    monkeypatch.setattr(inputs, "BLOCK_ROWS", 64)
    backed = anndata.read_h5ad(path, backed="r")
    model = mssvae.fit(backed, group_key="group", **FAST)
    # blocks of 64 rows, minibatches of 64, transform's batches of 1024: never the whole matrix
    assert backed.isbacked and largest and max(largest) <= 1024 < X.shape[0]
    np.testing.assert_array_equal(model.W_shared.to_numpy(), in_memory.W_shared.to_numpy())
    # the latents agree to float32 rounding (a dense array in memory and rows read from disk can
    # meet the matrix products at other memory alignments)
    np.testing.assert_allclose(backed.obsm[C.Z_SHARED], loaded.obsm[C.Z_SHARED], rtol=0, atol=1e-5)
    assert backed.uns[C.UNS][C.GROUPS] == ["a", "b", "c"]


def test_bad_values_on_disk_are_found_with_their_place(tmp_path):
    X, obs = _counts()
    X[200, 7] = np.nan
    X[150, 2] = -1
    path = tmp_path / "bad.h5ad"
    anndata.AnnData(X=sp.csr_matrix(X), obs=obs).write_h5ad(path)
    rows = H5Rows(path)
    with pytest.raises(mssvae.MSSVAEInputError) as err:
        check_values(rows, "gaussian", obs.index, [f"g{j}" for j in range(40)])
    assert err.value.where == dict(sample="c200", row=200, feature="g7", column=7)
    X[200, 7] = 1
    negative = tmp_path / "negative.h5ad"
    anndata.AnnData(X=sp.csr_matrix(X), obs=obs).write_h5ad(negative)
    with pytest.raises(mssvae.MSSVAEInputError, match="1 negative values"):
        mssvae.fit(anndata.read_h5ad(negative, backed="r"), group_key="group", **FAST)


def test_column_major_on_disk_is_refused_with_what_to_do(tmp_path):
    X, obs = _counts()
    path = tmp_path / "csc.h5ad"
    anndata.AnnData(X=sp.csc_matrix(X), obs=obs).write_h5ad(path)
    with pytest.raises(mssvae.MSSVAEInputError, match="stored as csc_matrix.*rewrite it as CSR"):
        H5Rows(path)


def test_cli_backed_writes_a_copy_with_the_results(on_disk, tmp_path):
    X, _, path = on_disk
    out = tmp_path / "out.h5ad"
    before = path.read_bytes()
    res = CliRunner().invoke(main, ["fit", str(path), "--group-key", "group", "--out", str(out), "--backed", "--epochs",
                                    "2", "--n-shared", "2", "--n-specific", "1", "--hidden", "8", "8", "--threads", "1",
                                    "--quiet", "--set", "lambda0_breaks=[1,2]"])
    assert res.exit_code == 0, res.output
    assert path.read_bytes() == before  # the input is not touched
    fitted = anndata.read_h5ad(out)
    assert fitted.obsm[C.Z_SHARED].shape == (1500, 2) and fitted.varm[C.W_SHARED].shape == (40, 2)
    np.testing.assert_array_equal(fitted.X.toarray() if sp.issparse(fitted.X) else fitted.X, X)
    with pytest.raises(mssvae.MSSVAEInputError, match="the file the data are read from"):
        write_backed(anndata.read_h5ad(path, backed="r"), path, {})


def test_the_command_line_reads_large_files_backed(tmp_path, monkeypatch):
    path = tmp_path / "f.h5ad"
    path.write_bytes(b"x" * 1000)
    monkeypatch.setattr(ondisk, "available_memory", lambda: 3000)
    assert ondisk.read_backed_by_size(path)  # 1000 B > a quarter of 3000 B
    monkeypatch.setattr(ondisk, "available_memory", lambda: 5000)
    assert not ondisk.read_backed_by_size(path)


def test_the_r_door_fits_an_hdf5_dataset_on_disk_as_the_matrix(tmp_path):
    X, obs = _counts(n=90)
    x = X.T.astype(np.float64)  # R's features × samples; HDF5Array stores it samples × features
    path = tmp_path / "assay.h5"
    with h5py.File(path, "w") as f:
        f["counts"] = X.astype(np.float64)
    kw = dict(n_shared=2, n_specific=1, hidden=[8, 6], epochs=2, lambda0_breaks=[1, 2], threads=1)
    labels = list(obs["group"])
    in_memory = bridge.call("fit_arrays", x, labels, **kw)
    from_disk = bridge.call("fit_arrays", {"h5_path": str(path), "h5_name": "/counts"}, labels, **kw)
    np.testing.assert_array_equal(from_disk[bridge.W_SHARED], in_memory[bridge.W_SHARED])
    with pytest.raises(mssvae.MSSVAEInputError, match="got 39 feature names for 40 features"):
        bridge.call("fit_arrays", {"h5_path": str(path), "h5_name": "/counts"}, labels,
                    feature_names=[f"g{j}" for j in range(39)], **kw)
