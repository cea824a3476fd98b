"""Settings and fit options are coerced and checked in one place (mssvae.model.settings), before
any data are read, and each door words the error that names the setting its own way."""

import os

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import mssvae
from mssvae import bridge
from mssvae.cli import main
from mssvae.model import MSSVAE
from mssvae.model.settings import checked_fit_options, checked_settings, default_sparsity_weight

from conftest import TINY, make_adata

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def _input_error(fn, *args, **kwargs) -> mssvae.MSSVAEInputError:
    with pytest.raises(mssvae.MSSVAEInputError) as err:
        fn(*args, **kwargs)
    return err.value


@pytest.mark.parametrize("values, message, named", [
    (dict(lr="fast"), "lr must be a positive number; got 'fast'", "lr"),
    (dict(lr_w=0), "lr_w must be a positive number; got 0", "lr_w"),
    (dict(n_shared=2.5), "n_shared must be a whole number >= 1; got 2.5", "n_shared"),
    (dict(n_specific={"a": -1}), "n_specific must be a whole number >= 0; got -1; the entry of group 'a' is not",
     "n_specific"),
    (dict(hidden=(8,)), "hidden must give the widths of the two hidden layers, e.g. (128, 64)", "hidden"),
    (dict(balance_groups="yes"), "balance_groups must be True or False; got 'yes'", "balance_groups"),
    (dict(precision="fp64"), "precision must be one of 'auto', 'fp32', 'bf16', 'fp16'; got 'fp64'", "precision"),
    (dict(likelihood="poisson"), "likelihood must be 'nb' or 'gaussian'; got 'poisson'", "likelihood"),
    (dict(lambda0_breaks=(600, 100)), "lambda0_breaks must be gradient steps in increasing order", "lambda0_breaks"),
    (dict(lambda0_breaks=(100,)), "lambda0_breaks must give 2 steps, one for each change of lambda0", "lambda0_breaks"),
    (dict(sparsity_weight=float("nan")), "sparsity_weight must be a number >= 0; got nan", "sparsity_weight"),
])
def test_a_bad_setting_names_itself_and_what_to_give(values, message, named):
    err = _input_error(MSSVAE, **{"likelihood": "nb", **values})
    assert message in str(err) and named in err.args_named


def test_settings_are_coerced_as_r_and_json_send_them():
    s = MSSVAE("nb", n_shared=2.0, hidden=[8.0, 4], lambda0=[1, 10, 15], lambda0_breaks=np.array([3.0, 9.0]),
               n_specific={"a": 1.0}, stopping_tol=0).settings
    assert s.n_shared == 2 and isinstance(s.n_shared, int) and s.hidden == (8, 4)
    assert s.lambda0 == (1.0, 10.0, 15.0) and s.lambda0_breaks == (3, 9) and s.n_specific == {"a": 1}
    assert _input_error(checked_settings, {"learning_rate": 0.1}).what.startswith("unknown settings ['learning_rate']")


def test_fit_options_are_checked_before_the_data_are_read(tmp_path):
    bad = make_adata()
    bad.X[0, 0] = np.nan  # would be the error, were the data read first
    model = MSSVAE("nb", **TINY)
    assert "seed must be a whole number >= 0" in str(_input_error(model.fit, bad, seed=-1))
    assert "batch_size must be a whole number >= 2" in str(_input_error(model.fit, bad, batch_size=1))
    assert "resume=True continues from the checkpoint in model_dir" in str(_input_error(model.fit, bad, resume=True))
    afile = tmp_path / "a-file"
    afile.write_text("")
    err = _input_error(model.fit, bad, model_dir=afile)
    assert "is a file, not a folder" in str(err) and err.args_named == ("model_dir",)
    err = _input_error(model.fit, bad, model_dir=afile / "model")
    assert "cannot be made" in str(err) and "give a folder you can write to" in str(err)
    assert model.state is None  # nothing was fitted
    assert checked_fit_options(epochs=3.0, model_dir=tmp_path / "new" / "m")["epochs"] == 3
    assert not (tmp_path / "new").exists()  # checking makes no folder


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_model_dir_is_named(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    err = _input_error(checked_fit_options, model_dir=locked / "m")
    assert "cannot be written" in str(err) and str(locked) in str(err)


@NO_CUDA
def test_a_device_this_machine_lacks_is_named():
    err = _input_error(MSSVAE("nb", **TINY).fit, make_adata(), device="cuda")
    assert str(err) == ("device 'cuda' is not available: this PyTorch sees no CUDA GPU; use device='cpu', "
                        "or 'auto' (a GPU when there is one)") and err.args_named == ("device",)
    assert "is not a device name" in str(_input_error(checked_fit_options, device="gpu"))


@NO_CUDA
def test_the_r_door_and_the_command_line_check_the_same_way(tmp_path):
    x = np.ones((5, 4))  # features × samples, never read: the settings stop the fit first
    for kwargs, words in ((dict(lr="fast"), "lr must be a positive number; got 'fast'"),
                          (dict(device="cuda"), "device 'cuda' is not available"),
                          (dict(model_dir=str(tmp_path / "f" / "m")), "cannot be made")):
        (tmp_path / "f").write_text("")
        with pytest.raises(mssvae.MSSVAEInputError, match=words):
            bridge.call("fit_arrays", x, ["a", "a", "b", "b"], **kwargs)
        assert bridge.last_error()["args_named"] == [next(iter(kwargs))]
    path = tmp_path / "in.h5ad"
    make_adata().write_h5ad(path)
    out = str(tmp_path / "o.h5ad")
    res = CliRunner().invoke(main, ["fit", str(path), "--group-key", "group", "--out", out, "--device", "cuda"])
    assert res.exit_code != 0 and "device 'cuda' is not available" in res.output and "--device='cpu'" in res.output
    res = CliRunner().invoke(main, ["fit", str(path), "--group-key", "group", "--out", out, "--set", "lambda1=\"big\""])
    assert res.exit_code != 0 and "lambda1 must be a positive number; got 'big'" in res.output
    assert "Traceback" not in res.output


def test_the_nb_weight_keeps_its_per_sample_share_below_3200_samples(tmp_path):
    """NB's default weight is 10 at N >= 3200 and 10 N / 3200 below (weight / N held at §4.2's N);
    a given weight, and the Gaussian default, do not move with N; the fit records the weight it used."""
    assert MSSVAE("nb").settings.sparsity_weight is None  # resolved when N is known
    assert default_sparsity_weight("nb", 600) == pytest.approx(1.875)
    assert default_sparsity_weight("nb", 3200) == default_sparsity_weight("nb", 10_000) == 10.0
    assert default_sparsity_weight("gaussian", 90) == default_sparsity_weight("gaussian", 10_000) == 20.0
    adata = make_adata()  # 75 samples
    fitted = MSSVAE("nb", **TINY).fit(adata, epochs=1, progress=False, model_dir=tmp_path / "m")
    assert fitted.fitted_settings.sparsity_weight == pytest.approx(10 * 75 / 3200)
    assert adata.uns["mssvae"]["settings"]["sparsity_weight"] == pytest.approx(10 * 75 / 3200)
    assert MSSVAE.load(tmp_path / "m").fitted_settings.sparsity_weight == pytest.approx(10 * 75 / 3200)
    given = MSSVAE("nb", sparsity_weight=10.0, **TINY).fit(make_adata(), epochs=1, progress=False)
    assert given.fitted_settings.sparsity_weight == 10.0
    gauss = MSSVAE("gaussian", **TINY).fit(make_adata(counts=False), epochs=1, progress=False)
    assert gauss.fitted_settings.sparsity_weight == 20.0
