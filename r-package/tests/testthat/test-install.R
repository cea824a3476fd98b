# installMSSVAE(): bad sources stop before anything is made; a failed pip run
# removes the environment it made and records nothing. The successful path
# (a checkout as source, then a fit) is tested end to end by
# tests/r-install-path.R (`make test-r-install-path`).

record_state <- function() {
    paths <- mssvae:::.record_paths()
    stats::setNames(as.character(file.mtime(paths)), paths)
}

test_that("a source that does not exist stops, naming it and the next step", {
    before <- record_state()
    env <- file.path(tempfile("mssvae-env"), "venv")
    missing <- file.path(tempdir(), "no-such-checkout")
    err <- expect_error(installMSSVAE(missing, envdir = env), "does not exist")
    expect_match(conditionMessage(err), missing, fixed = TRUE)
    expect_match(conditionMessage(err), "checkout of the mssvae repository")
    expect_false(file.exists(env))
    expect_identical(record_state(), before)
    bare <- tempfile("not-a-checkout")
    dir.create(bare)
    expect_error(installMSSVAE(bare, envdir = env), "holds no pyproject.toml")
    expect_error(installMSSVAE(c("a", "b")), "source must be one path or URL")
    expect_false(file.exists(env))
    occupied <- tempfile("occupied")
    dir.create(occupied)
    writeLines("x", file.path(occupied, "file"))
    src <- tempfile("src")
    dir.create(src)
    writeLines("[project]", file.path(src, "pyproject.toml"))
    expect_error(installMSSVAE(src, envdir = occupied),
        "exists and is not a virtual environment")
    expect_true(file.exists(file.path(occupied, "file")))
})

test_that("without a package index pip fails; the new env is removed", {
    py <- Sys.which("python3")
    skip_if(!nzchar(py), "no python3 on the PATH")
    ok <- system2(py, c("-c", shQuote("import venv, ensurepip")),
        stdout = FALSE, stderr = FALSE) == 0L
    skip_if(!ok, "python3 cannot make virtual environments")
    before <- record_state()
    # A source whose build needs setuptools, with every index switched off
    # and an empty wheel folder: the situation of a machine without a route
    # to PyPI.
    src <- tempfile("offline-src")
    dir.create(src)
    writeLines(c("[build-system]", "requires = [\"setuptools>=77\"]",
        "build-backend = \"setuptools.build_meta\"", "[project]",
        "name = \"mssvae\"", sprintf("version = \"%s\"",
            packageVersion("mssvae"))), file.path(src, "pyproject.toml"))
    wheels <- tempfile("no-wheels")
    dir.create(wheels)
    env <- file.path(tempfile("mssvae-env"), "venv")
    err <- expect_error(installMSSVAE(src, envdir = env, python = py,
        pip.args = c("--no-index", "--find-links", wheels)),
        "pip could not install mssvae from")
    expect_match(conditionMessage(err), src, fixed = TRUE)
    expect_match(conditionMessage(err), "Nothing was recorded. Next step")
    expect_match(conditionMessage(err), "--find-links", fixed = TRUE)
    expect_false(file.exists(env))
    expect_identical(record_state(), before)
})

test_that("mssvaeAvailable() answers FALSE with the reason, and no error", {
    out <- run_fresh_r(paste0(
        "options(mssvae.python = '/no/such/python'); ",
        "cat('answer:', mssvae::mssvaeAvailable(), '\\n')"))
    expect_match(out, "answer: FALSE", fixed = TRUE)
    expect_match(out, "not available: the Python given by options")
    expect_match(out, "installMSSVAE(", fixed = TRUE)
})

test_that("Python commands run without R's library folders first", {
    withr::local_envvar(LD_LIBRARY_PATH = paste(R.home("lib"), "/usr/lib",
        "/opt/mine/lib", sep = ":"))
    expect_identical(mssvae:::.subprocess_ld_path(),
        "LD_LIBRARY_PATH='/opt/mine/lib'")
    withr::local_envvar(LD_LIBRARY_PATH = "")
    expect_identical(mssvae:::.subprocess_ld_path(), "LD_LIBRARY_PATH=''")
})
