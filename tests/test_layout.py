"""The shape of the code base: subpackages without import cycles, files a reader can hold, one
list of settings that the command line follows."""

import ast
import json
import pathlib
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mssvae.cli import main
from mssvae.cli.fit import extra_settings, fit_cmd
from mssvae.model import MSSVAE, settings_table
from mssvae.model.settings import WEIGHT_SAMPLES

ROOT = pathlib.Path(__file__).resolve().parents[1] / "python" / "mssvae"


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        name = ".".join(p.relative_to(ROOT.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = p
    return out


def _imports(name: str, path: pathlib.Path, mods) -> list[tuple[str, bool]]:
    """(imported module of the package, whether the import sits inside a function)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    inside = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f)}
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
        for alias in node.names:
            for target in (f"{base}.{alias.name}", base):
                if target in mods and target != name:
                    out.append((target, id(node) in inside))
                    break
    return out


def test_no_import_cycles_and_no_imports_hidden_in_functions():
    mods = _modules()
    edges = {m: set() for m in mods}
    hidden = []
    for name, path in mods.items():
        for target, in_function in _imports(name, path, mods):
            edges[name].add(target)
            if in_function:
                hidden.append(f"{name} -> {target}")
    assert not hidden, f"imports of the package inside functions: {hidden}"
    state, cycles = {}, []

    def visit(u, stack):
        state[u] = 1
        stack.append(u)
        for v in edges[u]:
            if state.get(v) == 1:
                cycles.append(" -> ".join(stack[stack.index(v):] + [v]))
            elif not state.get(v):
                visit(v, stack)
        stack.pop()
        state[u] = 2

    for m in mods:
        if not state.get(m):
            visit(m, [])
    assert not cycles, f"import cycles: {cycles}"


def test_no_module_imports_the_root_package():
    """The root package imports the subpackages (its public names); were one of them to import
    the root back (for ``__version__``, say), importing it first would meet a half-made root."""
    mods = _modules()
    back = [name for name, path in mods.items() if name != "mssvae"
            and any(target == "mssvae" for target, _ in _imports(name, path, mods))]
    assert not back, f"modules that import the root package: {back}"


def test_import_mssvae_leaves_the_r_door_alone():
    code = ("import sys, mssvae; assert 'mssvae.bridge' not in sys.modules, 'bridge imported'; "
            "assert callable(mssvae.write_sce) and 'mssvae.bridge' in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_python_calls_no_private_r_function():
    """R code run from Python calls the R package's exported functions (``mssvae::``), never its
    private ones (``mssvae:::``)."""
    private = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py") if "mssvae:::" in p.read_text()]
    assert not private, f"files that call private R functions: {private}"


def test_every_setting_reaches_the_command_line():
    names = [row["name"] for row in settings_table()]
    options = {p.name for p in fit_cmd.params}
    # explicit options that are settings keep the settings' names
    assert {"n_shared", "n_specific", "hidden", "lr", "lr_w", "sparsity_weight", "precision", "early_stopping",
            "stopping_tol", "stopping_patience", "max_steps", "epochs", "batch_size", "likelihood"} <= options
    # the rest go through --set, which takes exactly the settings without an option
    rest = [n for n in names if n not in options]
    assert rest and set(extra_settings([f"{n}=null" for n in rest])) == set(rest)
    with pytest.raises(Exception, match="NAME one of"):
        extra_settings(["n_shared=3"])  # has its own option
    with pytest.raises(Exception, match="NAME one of"):
        extra_settings(["not_a_setting=1"])
    assert extra_settings(["lambda0_breaks=[4,20]", "encoder_input=raw"]) == {"lambda0_breaks": [4, 20],
                                                                             "encoder_input": "raw"}


def test_settings_table_matches_the_estimator(tmp_path, counts_adata):
    table = {row["name"]: row for row in settings_table()}
    assert table["sparsity_weight"]["nb"] == MSSVAE("nb").settings.for_fit(WEIGHT_SAMPLES["nb"]).sparsity_weight
    assert table["hidden"]["gaussian"] == MSSVAE("gaussian").settings.hidden
    assert all(row["doc"] for row in table.values())
    path = tmp_path / "in.h5ad"
    counts_adata.write_h5ad(path)
    out = tmp_path / "out.h5ad"
    res = CliRunner().invoke(main, ["fit", str(path), "--group-key", "group", "--out", str(out), "--epochs", "2",
                                    "--n-shared", "2", "--n-specific", "1", "--hidden", "8", "8", "--quiet",
                                    "--set", "lambda0_breaks=[1,2]", "--set", "encoder_input=raw"])
    assert res.exit_code == 0, res.output
    saved = json.loads((tmp_path / "out_model" / "settings.json").read_text())["settings"]
    assert saved["lambda0_breaks"] == [1, 2] and saved["encoder_input"] == "raw"
