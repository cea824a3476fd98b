# The R-only install path, end to end (`make test-r-install-path`): the R
# package installed from its tarball into an empty library with no Python
# recorded, installMSSVAE() with the checkout as source into a new virtual
# environment, then a tiny fit in a fresh R process that finds that Python by
# the record alone.
#
# Usage: Rscript tests/r-install-path.R <checkout> <work dir> [python]
# The caller puts the temporary library first in R_LIBS and points
# R_USER_CONFIG_DIR / R_USER_DATA_DIR into the work dir. pip installs the
# pinned dependencies as a user's installMSSVAE() would, from the indexes and
# wheel folders pip is configured with (and its cache).

args <- commandArgs(trailingOnly = TRUE)
checkout <- normalizePath(args[1])
work <- normalizePath(args[2])
python <- if (length(args) > 2L) args[3] else NULL
stopifnot(file.exists(file.path(checkout, "pyproject.toml")))

rscript <- file.path(R.home("bin"), "Rscript")
fresh_r <- function(code) {
    out <- suppressWarnings(system2(rscript, c("-e", shQuote(code)),
        stdout = TRUE, stderr = TRUE))
    status <- attr(out, "status")
    list(out = out, status = if (is.null(status)) 0L else status)
}
check <- function(ok, what) {
    if (!isTRUE(ok)) stop("FAILED: ", what, call. = FALSE)
    cat("ok:", what, "\n")
}

lib <- find.package("mssvae")
check(!startsWith(lib, checkout), "mssvae is loaded from the temporary library")
check(!file.exists(file.path(lib, "python.dcf")), "no Python recorded yet")
before <- fresh_r("cat(mssvae::mssvaeAvailable())")
check(any(grepl("FALSE", before$out)) &&
    any(grepl("installMSSVAE(", before$out, fixed = TRUE)),
    "before: mssvaeAvailable() is FALSE and names installMSSVAE()")

envdir <- file.path(work, "venv")
t0 <- Sys.time()
py <- mssvae::installMSSVAE(checkout, envdir = envdir, python = python,
    quiet = TRUE)
cat(sprintf("installMSSVAE: %.0f s\n",
    as.numeric(difftime(Sys.time(), t0, units = "secs"))))
check(identical(py, file.path(normalizePath(envdir), "bin", "python")),
    "installMSSVAE() returns the new environment's Python")
rec <- read.dcf(file.path(lib, "python.dcf"))
check(identical(unname(rec[1, "Python"]), py),
    "the record in the installed package names that Python")

fit <- fresh_r(paste(
    "library(mssvae)",
    "info <- mssvaePython()",
    "cat('python:', info$python, '\\n')",
    "cat('source:', info$source, '\\n')",
    "sce <- mssvaeExampleData()[seq_len(150), ]",
    "sce <- fitMSSVAE(sce, group = 'lineage', n.shared = 3,",
    "    n.specific = 2, hidden = c(8, 4), epochs = 2, threads = 1)",
    "cat('W:', dim(SummarizedExperiment::rowData(sce)$MSSVAE_W_shared),",
    "    '\\n')",
    sep = "\n"))
cat(fit$out, sep = "\n")
check(fit$status == 0L, "a fresh R session fits a tiny model")
check(any(fit$out == paste("python:", py, "")),
    "the fit used the recorded Python")
check(any(grepl("^source: the Python recorded in", fit$out)),
    "found by the record alone")
check(any(fit$out == "W: 150 3 "), "the loadings have the fitted shape")
cat("the R-only install path works\n")
