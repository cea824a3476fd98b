# The R package's testthat suite against the installed package (`make test-r`),
# then how long each test file and the slowest tests took, so that a slow test
# is seen where it is added; exits with status 1 when a test fails or errors.
#
# Usage: Rscript tests/testthat-timed.R [n slowest tests to list, default 10]

args <- commandArgs(trailingOnly = TRUE)
n_slowest <- if (length(args)) as.integer(args[1]) else 10L
t0 <- proc.time()[["elapsed"]]
res <- testthat::test_dir("r-package/tests/testthat", package = "mssvae",
    load_package = "installed", stop_on_failure = FALSE)
elapsed <- proc.time()[["elapsed"]] - t0
df <- as.data.frame(res)

per_file <- sort(tapply(df$real, df$file, sum), decreasing = TRUE)
cat(sprintf("\ntestthat: %.0f s in all; seconds per file:\n", elapsed))
cat(sprintf("  %6.1f  %s\n", per_file, names(per_file)), sep = "")
slow <- head(df[order(df$real, decreasing = TRUE), ], n_slowest)
cat(sprintf("the %d slowest tests:\n", nrow(slow)))
cat(sprintf("  %6.1f  %s: %s\n", slow$real, slow$file, slow$test), sep = "")

if (sum(df$failed) > 0 || any(df$error)) {
    cat(sprintf("testthat: %d failed, %d errors\n", sum(df$failed),
        sum(df$error)))
    quit(save = "no", status = 1L)
}
