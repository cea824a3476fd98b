# The only file that talks to Python (as zellkonverter's basilisk worker does).
# Every function
# here returns pure R objects; the rest of the package never sees a Python
# object.
#
# Which Python: the first of
#   1. getOption("mssvae.python")
#   2. Sys.getenv("MSSVAE_PYTHON")
#   3. the interpreter recorded in python.dcf: in the installed package (by
#      installMSSVAE() or `make r-install`), else in
#      tools::R_user_dir("mssvae", "config") (by installMSSVAE() when the
#      package folder is not writable)
#   4. Sys.getenv("RETICULATE_PYTHON")
# It must import the Python package `mssvae` of the same version as this R
# package.

.mssvae_state <- new.env(parent = emptyenv())

.install_record <- function() {
    paths <- .record_paths()
    path <- paths[file.exists(paths)][1]
    if (is.na(path)) {
        return(list(python = NA_character_, repository = NA_character_,
            path = NA_character_))
    }
    rec <- read.dcf(path)
    get <- function(f) {
        if (f %in% colnames(rec)) unname(rec[1, f]) else NA_character_
    }
    list(python = get("Python"), repository = get("Repository"), path = path)
}

.fix_hint <- function() {
    repo <- .install_record()$repository
    .sprintf(c(
        "set it up from R with installMSSVAE(\"%s\") (see ?installMSSVAE), ",
        "or run `make setup` and `make r-install` in the repository, or ",
        "install the Python package with `pip install %s` into a Python of ",
        "your choice and point R to it with options(mssvae.python = ",
        "\"/path/to/bin/python\") or the environment variable MSSVAE_PYTHON"
    ), if (is.na(repo)) "/path/to/mssvae" else repo,
    if (is.na(repo)) "/path/to/mssvae" else repo)
}

.python_candidates <- function() {
    opt <- getOption("mssvae.python")
    rec <- .install_record()
    cand <- list(
        list(path = if (is.null(opt)) "" else as.character(opt)[1],
            source = "options(mssvae.python)"),
        list(path = Sys.getenv("MSSVAE_PYTHON"),
            source = "the environment variable MSSVAE_PYTHON"),
        list(path = if (is.na(rec$python)) "" else rec$python,
            source = sprintf("the Python recorded in %s", rec$path)),
        list(path = Sys.getenv("RETICULATE_PYTHON"),
            source = "the environment variable RETICULATE_PYTHON")
    )
    Filter(function(c) nzchar(c$path), cand)
}

#' Which Python the package uses
#'
#' Starts Python if it is not running yet and reports the interpreter and the
#' versions of the Python side. The interpreter is the first of
#' `getOption("mssvae.python")`, the environment variable `MSSVAE_PYTHON`, the
#' interpreter recorded by [installMSSVAE()] or by `make r-install` (the
#' repository's `.venv/bin/python`), and `RETICULATE_PYTHON`. It must hold the
#' Python package `mssvae` of the same version as this R package.
#'
#' @return A named list: `python` (the interpreter), `source` (where it was
#'   chosen from), the versions of `mssvae`, Python, NumPy, SciPy, pandas,
#'   PyTorch and anndata, and `torch_blas`: the library PyTorch's matrix
#'   products run on. That is PyTorch's own (`libtorch_cpu.so`): the Python
#'   core loads PyTorch so that R's BLAS, already in the R process, does not
#'   take its products (which made fits several times slower). Were PyTorch
#'   imported through reticulate before the first mssvae call, R's BLAS would
#'   be named here, and a warning says to restart R.
#' @seealso [mssvaeAvailable()] to test without an error, [installMSSVAE()] to
#'   set one up.
#' @examples
#' if (mssvaeAvailable()) {
#'     str(mssvaePython()[c("python", "source", "mssvae", "torch")])
#' }
#' ## another Python: set before the first call in an R session
#' ## options(mssvae.python = "/opt/venvs/mssvae/bin/python")
#' @export
mssvaePython <- function() {
    .bridge()
    c(list(python = .mssvae_state$python, source = .mssvae_state$source),
        .mssvae_state$versions)
}

#' Is the Python core set up?
#'
#' `TRUE` when the package finds a Python that imports the `mssvae` module of
#' its own version (starting that Python if none runs yet), `FALSE` otherwise,
#' with a message that says why and what to do (usually: [installMSSVAE()]).
#' Examples and code that need the Python core can be guarded by it.
#'
#' @param verbose Say why, when the answer is `FALSE`.
#' @return `TRUE` or `FALSE`.
#' @seealso [installMSSVAE()], [mssvaePython()].
#' @examples
#' mssvaeAvailable()
#' @export
mssvaeAvailable <- function(verbose = TRUE) {
    ok <- tryCatch({
        .bridge()
        TRUE
    }, error = function(e) {
        if (verbose) {
            message("mssvae's Python core is not available: ",
                conditionMessage(e))
        }
        FALSE
    })
    ok
}

# Start Python (once per R session), import mssvae.bridge and check its
# version.
.bridge <- function() {
    if (!is.null(.mssvae_state$bridge)) {
        return(.mssvae_state$bridge)
    }
    if (reticulate::py_available(initialize = FALSE)) {
        # reticulate already runs a Python in this session: the only one we
        # can use.
        python <- reticulate::py_config()$python
        source <- "the Python reticulate had already started in this R session"
        wanted <- .python_candidates()
        if (length(wanted) && !.same_file(wanted[[1]]$path, python)) {
            .check_importable(python, source, extra = .sprintf(c(
                " (%s asks for %s, but a Python can be started only once ",
                "per R session: restart R and call mssvae first)"),
                wanted[[1]]$source, wanted[[1]]$path))
        }
    } else {
        cand <- .python_candidates()
        if (!length(cand)) {
            stop("mssvae cannot find its Python: none was recorded at ",
                "installation and neither options(mssvae.python) nor ",
                "MSSVAE_PYTHON is set; ", .fix_hint(), call. = FALSE)
        }
        python <- cand[[1]]$path
        source <- cand[[1]]$source
        if (!file.exists(python)) {
            stop(sprintf("the Python given by %s does not exist: %s; %s",
                source, python, .fix_hint()), call. = FALSE)
        }
        .start_python(python, source)
    }
    .check_importable(python, source)
    bridge <- reticulate::import("mssvae.bridge", convert = FALSE)
    versions <- reticulate::py_to_r(bridge$call("version"))
    if (!identical(versions$mssvae, .r_version())) {
        stop(.sprintf(c(
            "the Python mssvae (%s, in %s) is version %s but this R package ",
            "is version %s; install both from the same checkout: %s"),
            python, source, versions$mssvae, .r_version(), .fix_hint()),
            call. = FALSE)
    }
    .mssvae_state$bridge <- bridge
    .mssvae_state$python <- python
    .mssvae_state$source <- source
    .mssvae_state$versions <- versions
    bridge
}

.same_file <- function(a, b) {
    normalizePath(a, mustWork = FALSE) == normalizePath(b, mustWork = FALSE)
}

# RETICULATE_PYTHON wins over everything else in reticulate's discovery (also
# over a pyproject.toml in the working directory), so it is set while Python
# starts, and restored after.
.start_python <- function(python, source) {
    ok <- withr::with_envvar(c(RETICULATE_PYTHON = python), tryCatch({
        reticulate::use_python(python, required = TRUE)
        reticulate::py_config()
        TRUE
    }, error = function(e) conditionMessage(e)))
    if (!isTRUE(ok)) {
        stop(sprintf("cannot start the Python given by %s (%s): %s; %s",
            source, python, ok, .fix_hint()), call. = FALSE)
    }
    invisible(TRUE)
}

.check_importable <- function(python, source, extra = "") {
    if (!reticulate::py_module_available("mssvae")) {
        stop(sprintf("the Python %s (%s) has no module 'mssvae'%s; %s", python,
            source, extra, .fix_hint()), call. = FALSE)
    }
    invisible(TRUE)
}

# The one helper through which R reaches Python: bridge.call() runs the door
# function `fun` and converts its result. Python exceptions become R errors;
# an input error (class "mssvae_input_error") is worded from its fields. Ctrl-C
# reaches Python, where the fit saves its state; R then signals its own
# interrupt, which becomes an error that says how to continue.
.py_call <- function(fun, ...) {
    bridge <- .bridge()
    tryCatch(reticulate::py_to_r(bridge$call(fun, ...)),
        error = function(e) .python_error(e, bridge),
        interrupt = function(i) {
            fields <- reticulate::py_to_r(bridge$last_error())
            if (!isTRUE(fields$interrupted)) {
                stop("interrupted", call. = FALSE)
            }
            stop(.interrupted_message(fields), call. = FALSE)
        })
}

.python_error <- function(e, bridge) {
    msg <- conditionMessage(e)
    msg <- sub(paste0("\n*(Detailed traceback|",
        "Run `reticulate::py_last_error\\(\\)`).*$"), "", msg)
    type <- sub("^([A-Za-z_][A-Za-z0-9_.]*): .*$", "\\1", msg)
    if (identical(type, msg)) {
        type <- ""
    }
    text <- trimws(substring(msg, nchar(type) + 3L * nzchar(type)))
    short <- sub("^.*\\.", "", type)
    if (identical(short, "MSSVAEInputError")) {
        fields <- reticulate::py_to_r(bridge$last_error())
        if (length(fields)) {
            text <- .r_message(fields)
        }
    }
    if (short %in% c("MSSVAEInputError", "ValueError", "KeyError")) {
        cond <- structure(class = c("mssvae_input_error", "error", "condition"),
            list(message = text, call = NULL))
        stop(cond)
    }
    if (short %in% c("FitInterrupted", "KeyboardInterrupt")) {
        fields <- reticulate::py_to_r(bridge$last_error())
        if (isTRUE(fields$interrupted)) {
            text <- .interrupted_message(fields)
        }
        stop(text, call. = FALSE)
    }
    kind <- if (nzchar(short)) short else "exception"
    stop(sprintf("the mssvae Python core failed (%s): %s", kind, text),
        call. = FALSE)
}

# An interrupted fit in R's terms, from its fields: how much was done, and how
# to continue it (or how to keep the work next time).
.interrupted_message <- function(fields) {
    done <- sprintf("fit interrupted after %d of at most %d epochs",
        as.integer(fields$epochs_done), as.integer(fields$max_epochs))
    if (is.null(fields$checkpoint_dir)) {
        return(paste0(done, "; nothing was kept: give model.dir = to keep ",
            "checkpoints that fitMSSVAE(..., resume = TRUE) continues"))
    }
    sprintf(paste0("%s; the state is saved in %s: continue with ",
        "fitMSSVAE(<the same data and arguments>, model.dir = \"%s\", ",
        "resume = TRUE)"), done, fields$checkpoint_dir, fields$checkpoint_dir)
}

# An input error of the core in R's terms, from its fields: positions 1-based,
# a sample as a column and a feature as a row (R's matrices are features x
# samples), the Python arguments it names in dot.case (layer: assay.type).
.r_message <- function(fields) {
    text <- fields$what
    w <- fields$where
    parts <- character()
    if (!is.null(w$row)) {
        col <- as.integer(w$row) + 1L
        parts <- c(parts, if (is.null(w$sample)) sprintf("sample %d", col)
            else sprintf("sample '%s' (column %d)", w$sample, col))
    }
    if (!is.null(w$column)) {
        parts <- c(parts, sprintf("feature '%s' (row %d)", w$feature,
            as.integer(w$column) + 1L))
    }
    if (length(parts)) {
        text <- sprintf("%s (first at %s)", text, paste(parts, collapse = ", "))
    }
    if (nzchar(fields$hint)) {
        text <- paste0(text, "; ", fields$hint)
    }
    for (a in unlist(fields$args_named)) {
        r <- if (identical(a, "layer")) "assay.type" else gsub("_", ".", a)
        text <- gsub(paste0("\\b", a, "\\b"), r, text, perl = TRUE)
    }
    text
}

.as_vector <- function(v) if (is.null(v)) v else as.vector(v)

# ----- the worker functions: R values in, pure R values out -----------------

# `mat` is features x samples: a base matrix or a dgCMatrix (which reaches
# Python as a scipy CSC matrix without being densified). Returns the bridge's
# results dict as an R list.
.worker_fit <- function(mat, groups, group.levels, feature.names,
    sample.names, args) {
    call_args <- c(list("fit_arrays", mat, as.character(groups),
        feature_names = as.character(feature.names),
        sample_names = as.character(sample.names),
        group_levels = as.list(group.levels)), args)
    res <- do.call(.py_call, call_args)
    res$metadata <- .tidy_metadata(res$metadata)
    res
}

.worker_prepare <- function(mat, feature.names, sample.names, params) {
    res <- do.call(.py_call, c(list("prepare_arrays", mat,
        feature_names = as.character(feature.names),
        sample_names = as.character(sample.names)), params))
    res$keep_samples <- as.logical(res$keep_samples)
    res$keep_features <- as.logical(res$keep_features)
    res$pearson_residual_variance <- as.numeric(res$pearson_residual_variance)
    res$pearson_residual_rank <- as.integer(res$pearson_residual_rank)
    res$report <- .drop_dims(res$report)
    res
}

.worker_example <- function() {
    res <- .py_call("example_arrays")
    cnt <- res$counts
    counts <- methods::new("dgCMatrix", i = as.integer(cnt$indices),
        p = as.integer(cnt$indptr), x = as.numeric(cnt$data),
        Dim = as.integer(unlist(cnt$shape)),
        Dimnames = list(as.character(res$genes), as.character(res$cells)))
    obs <- lapply(names(res$obs), function(col) {
        v <- .as_vector(res$obs[[col]])
        if (!col %in% names(res$levels)) {
            return(v)
        }
        factor(v, levels = as.character(res$levels[[col]]))
    })
    names(obs) <- names(res$obs)
    list(counts = counts, obs = obs, provenance = .drop_dims(res$provenance))
}

# Rankings (rankGroupGenes / rankGroupFactors): `mat` is features x samples on
# the fitted features; returns the table as a list of columns.
.worker_rank <- function(mat, groups, feature.names, group, model.dir, level,
    threshold, n.top, threads, covariates = NULL, covariate.levels = NULL) {
    .py_call("rank_arrays", mat, as.list(as.character(groups)), model.dir,
        group, feature_names = as.list(as.character(feature.names)),
        level = level, threshold = threshold, n_top = n.top,
        threads = threads, covariates = covariates,
        covariate_levels = covariate.levels)
}

# 1-d arrays arrive with a dim attribute; plain vectors read better in
# metadata().
.drop_dims <- function(x) {
    if (is.list(x) && !is.data.frame(x)) {
        return(lapply(x, .drop_dims))
    }
    if (!is.null(dim(x)) && length(dim(x)) == 1L) {
        return(as.vector(x))
    }
    x
}

.tidy_metadata <- function(md) {
    md <- .drop_dims(md)
    if (!is.null(md$history)) {
        md$history <- as.data.frame(lapply(md$history, as.vector),
            check.names = FALSE)
    }
    md
}
