# Setting up the Python core from R: a virtual environment made by reticulate,
# the mssvae Python package installed into it by pip, and a record
# (python.dcf) that later R sessions read (see .install_record() in worker.R).

#' Set up the Python core from R
#'
#' Creates a Python virtual environment (with reticulate), installs into it the
#' Python package `mssvae` of this R package's version, with its pinned
#' dependencies (`torch==2.13.0`, `numpy<2`, `pandas<3`, ...), from a source you
#' give, checks that it imports, and records the interpreter so that later R
#' sessions find it without configuration.
#'
#' The record is the file `python.dcf` in the installed R package (where `make
#' r-install` writes it); when that folder is not writable it goes to
#' `tools::R_user_dir("mssvae", "config")`. It is written only after the new
#' Python imported `mssvae` of the right version: a failed installation removes
#' the environment it created and leaves any earlier record as it was. Within
#' the repository, `make setup` and `make r-install` remain the way to set up
#' the checkout's own `.venv`.
#'
#' @param source Where the Python package comes from: the path of a checkout of
#'   the mssvae repository (the folder holding `pyproject.toml`), a wheel
#'   (`.whl`) or source archive (`.tar.gz`, `.zip`) of the same version as this
#'   R package, or a pip URL (`git+https://...`).
#' @param envdir The folder of the virtual environment to create (or to reuse,
#'   if it is one already). Default: `venv` in `tools::R_user_dir("mssvae",
#'   "data")`.
#' @param python The Python (>= 3.10) to create the environment from, or, with
#'   `venv = FALSE`, to install into. `NULL`: reticulate's choice.
#' @param venv `FALSE` installs into `python` itself instead of a new
#'   environment (for a Python you manage, e.g. a conda environment).
#' @param torch.index An extra package index for PyTorch, e.g.
#'   `"https://download.pytorch.org/whl/cpu"` for the CPU build or one of
#'   PyTorch's CUDA indexes for a GPU build. `NULL`: pip's configured indexes
#'   (on Linux, PyPI's `torch` wheel is a CUDA build).
#' @param system.site.packages Let the environment see the packages of the
#'   Python it is created from (reuses an installed PyTorch).
#' @param no.deps Install only `mssvae`, not its dependencies: for an
#'   environment that has them already (e.g. with `system.site.packages`). The
#'   import check still runs, so missing dependencies are reported.
#' @param pip.args Further arguments for `pip install`, e.g. `c("--no-index",
#'   "--find-links", "/path/to/wheels")` on a machine without a network route.
#' @param record Record the interpreter for later R sessions (see Details).
#' @param quiet Hide pip's progress output.
#' @return The path of the environment's Python, invisibly.
#' @seealso [mssvaeAvailable()], [mssvaePython()].
#' @examples
#' ## A source that does not exist stops before anything is created:
#' res <- try(installMSSVAE(file.path(tempdir(), "no-such-checkout")),
#'     silent = TRUE)
#' cat(res)
#' ## From a checkout of the repository (a few minutes: PyTorch is large):
#' ## installMSSVAE("/path/to/mssvae")
#' ## From a wheel, with PyTorch's CPU build:
#' ## installMSSVAE("mssvae-0.99.0-py3-none-any.whl",
#' ##     torch.index = "https://download.pytorch.org/whl/cpu")
#' @export
installMSSVAE <- function(source, envdir = NULL, python = NULL, venv = TRUE,
    torch.index = NULL, system.site.packages = FALSE, no.deps = FALSE,
    pip.args = character(), record = TRUE, quiet = TRUE) {
    target <- .pip_target(source)
    if (is.null(envdir)) {
        envdir <- file.path(tools::R_user_dir("mssvae", "data"), "venv")
    }
    if (venv) {
        made <- .make_venv(envdir, python, system.site.packages)
        py <- made$python
        if (made$created) {
            ok <- FALSE
            on.exit(if (!ok) unlink(envdir, recursive = TRUE), add = TRUE)
        }
    } else {
        if (is.null(python) || !file.exists(python)) {
            stop("venv = FALSE installs into an existing Python: give its ",
                "path as `python`", call. = FALSE)
        }
        py <- normalizePath(python)
    }
    args <- c("-m", "pip", "install", if (quiet) "--quiet",
        "--disable-pip-version-check", if (no.deps) "--no-deps",
        if (!is.null(torch.index)) c("--extra-index-url", torch.index),
        pip.args, shQuote(target))
    .run_step(py, args, sprintf(
        "pip could not install mssvae from %s into %s", source, py
    ), .pip_next_step(source))
    version <- .check_installed(py, source)
    if (venv && made$created) {
        ok <- TRUE
    }
    if (record) {
        where <- .write_record(py, source)
        message("mssvae ", version, " is set up in ", py,
            "; recorded in ", where)
        if (reticulate::py_available(initialize = FALSE)) {
            message("this R session already runs a Python: restart R to ",
                "use the new one")
        }
    }
    invisible(py)
}

# What pip installs: a checkout folder, an archive, or a URL, checked first.
.pip_target <- function(source) {
    if (!is.character(source) || length(source) != 1L || is.na(source) ||
        !nzchar(source)) {
        stop("source must be one path or URL: a checkout of the mssvae ",
            "repository, a wheel or source archive, or git+https://...",
            call. = FALSE)
    }
    if (grepl("^(git\\+)?(https?|ssh|file)://", source)) {
        return(source)
    }
    if (!file.exists(source)) {
        stop(.sprintf(c(
            "the source %s does not exist; give the path of a checkout of ",
            "the mssvae repository (the folder holding pyproject.toml), a ",
            "wheel or source archive of mssvae %s, or a git URL ",
            "(git+https://...)"), source, .r_version()), call. = FALSE)
    }
    source <- normalizePath(source)
    if (dir.exists(source) &&
        !file.exists(file.path(source, "pyproject.toml"))) {
        stop(.sprintf(c(
            "the source %s holds no pyproject.toml: give the top folder of ",
            "a checkout of the mssvae repository, or a wheel or source ",
            "archive"), source), call. = FALSE)
    }
    source
}

.r_version <- function() as.character(utils::packageVersion("mssvae"))

# Creates envdir with reticulate unless it is a virtual environment already.
.make_venv <- function(envdir, python, system.site.packages) {
    envdir <- normalizePath(envdir, mustWork = FALSE)
    py <- file.path(envdir, "bin", "python")
    if (file.exists(py)) {
        return(list(python = py, created = FALSE))
    }
    if (file.exists(envdir) && length(dir(envdir, all.files = TRUE,
        no.. = TRUE))) {
        stop(.sprintf(c(
            "envdir %s exists and is not a virtual environment; give an ",
            "empty or new folder"), envdir), call. = FALSE)
    }
    if (!is.null(python)) {
        .check_python_version(python)
    }
    dir.create(dirname(envdir), recursive = TRUE, showWarnings = FALSE)
    res <- tryCatch(utils::capture.output(reticulate::virtualenv_create(
        envdir, python = python, packages = FALSE,
        system_site_packages = system.site.packages
    )), error = function(e) e)
    failed <- inherits(res, "condition")
    if (failed || !file.exists(py)) {
        unlink(envdir, recursive = TRUE)
        why <- if (failed) conditionMessage(res) else "no bin/python was made"
        stop(.sprintf(c(
            "could not create a virtual environment in %s: %s; give a ",
            "Python >= 3.10 with its venv module as `python`, or ",
            "venv = FALSE to install into that Python"), envdir, why),
            call. = FALSE)
    }
    tryCatch(.check_python_version(py), error = function(e) {
        unlink(envdir, recursive = TRUE)
        stop(e)
    })
    list(python = py, created = TRUE)
}

.check_python_version <- function(python) {
    run <- .system_out(python, c("-c", shQuote(
        "import sys; print('%d.%d' % sys.version_info[:2])"
    )))
    v <- run$out
    if (run$status != 0L || !length(v) ||
        utils::compareVersion(v[length(v)], "3.10") < 0) {
        stop(.sprintf(c(
            "mssvae needs Python >= 3.10; %s is %s. Give another as ",
            "`python` to installMSSVAE()"), python,
            if (length(v)) v[length(v)] else "not runnable"), call. = FALSE)
    }
    invisible(TRUE)
}

# Runs a command with its output in a file (a failing command then gives
# its exit status, not a warning): list(status, out).
.system_out <- function(command, args) {
    log <- tempfile("mssvae-run", fileext = ".log")
    on.exit(unlink(log), add = TRUE)
    status <- system2(command, args, stdout = log, stderr = log,
        env = .subprocess_ld_path())
    out <- if (file.exists(log)) readLines(log, warn = FALSE) else character()
    list(status = as.integer(status), out = out)
}

# R starts with LD_LIBRARY_PATH led by its own and the system's library
# folders (etc/ldpaths). A Python built with a shared libpython (pyenv's, for
# one) then loads the system's libpython, not its own, and its ssl module
# fails ("undefined symbol"), so pip cannot reach an index. Python commands
# run without those folders (the loader still searches the system ones, after
# the Python's own).
.subprocess_ld_path <- function() {
    ld <- strsplit(Sys.getenv("LD_LIBRARY_PATH"), ":", fixed = TRUE)[[1]]
    ours <- c(R.home("lib"), "/lib", "/usr/lib", "/lib64", "/usr/lib64",
        Sys.glob("/lib/*-linux-gnu"), Sys.glob("/usr/lib/*-linux-gnu"))
    norm <- function(p) normalizePath(p, mustWork = FALSE)
    keep <- ld[nzchar(ld) & !norm(ld) %in% norm(ours)]
    paste0("LD_LIBRARY_PATH=", shQuote(paste(keep, collapse = ":")))
}

# Runs a command; on failure stops with the last lines of its output.
.run_step <- function(command, args, what, next.step) {
    run <- .system_out(command, args)
    if (run$status != 0L) {
        tail <- utils::tail(run$out[nzchar(trimws(run$out))], 8L)
        stop(what, " (exit status ", run$status, "):\n",
            paste(tail, collapse = "\n"), "\n", next.step, call. = FALSE)
    }
    invisible(run$out)
}

.pip_next_step <- function(source) {
    .sprintf(c(
        "Nothing was recorded. Next step: check that pip can reach a ",
        "package index (PyPI) from this machine; without a network route, ",
        "download the wheels elsewhere (pip download) and pass pip.args = ",
        "c(\"--no-index\", \"--find-links\", \"/path/to/wheels\"); or check ",
        "the source %s."
    ), source)
}

# The new Python must import mssvae (and its bridge) of this R package's
# version.
.check_installed <- function(py, source) {
    code <- "import mssvae, mssvae.bridge; print(mssvae.__version__)"
    out <- .run_step(py, c("-c", shQuote(code)), sprintf(
        "mssvae from %s was installed into %s but does not import", source,
        py), paste0("Nothing was recorded. Next step: install its ",
        "dependencies (no.deps = FALSE) or look at the error above."))
    version <- out[length(out)]
    if (!identical(version, .r_version())) {
        stop(.sprintf(c(
            "%s holds mssvae %s but this R package is version %s; nothing ",
            "was recorded. Give a source of version %s (the checkout this R ",
            "package came from)"), source, version, .r_version(),
            .r_version()), call. = FALSE)
    }
    version
}

# Where the record goes: the installed package, else the user's config dir.
.record_paths <- function() {
    c(
        file.path(system.file(package = "mssvae"), "python.dcf"),
        file.path(tools::R_user_dir("mssvae", "config"), "python.dcf")
    )
}

.write_record <- function(py, source) {
    paths <- .record_paths()
    where <- if (file.access(dirname(paths[1]), 2L) == 0L) paths[1] else
        paths[2]
    dir.create(dirname(where), recursive = TRUE, showWarnings = FALSE)
    tmp <- tempfile("python", tmpdir = dirname(where), fileext = ".dcf")
    write.dcf(data.frame(Python = py, Source = source,
        Installed = format(Sys.time(), "%Y-%m-%d %H:%M:%S"),
        check.names = FALSE), tmp)
    if (!file.rename(tmp, where)) {
        unlink(tmp)
        stop("could not write the record ", where, call. = FALSE)
    }
    where
}
