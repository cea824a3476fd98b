# BiocCheck on the package tarball (`make bioccheck`), with the checks that
# need a Bioconductor or CRAN host switched off; exits with status 1 on any
# ERROR or WARNING.
#
# Usage: Rscript tests/bioccheck.R <tarball>

tarball <- commandArgs(trailingOnly = TRUE)[1]
res <- BiocCheck::BiocCheck(tarball, `no-check-deprecated` = TRUE,
    `no-check-CRAN` = TRUE, `no-check-bioc-help` = TRUE,
    `no-check-remotes` = TRUE)
n <- vapply(c("error", "warning", "note"), res$getNum, numeric(1))
cat(sprintf("BiocCheck: %d errors, %d warnings, %d notes\n", n[["error"]],
    n[["warning"]], n[["note"]]))
if (n[["error"]] > 0 || n[["warning"]] > 0) {
    quit(save = "no", status = 1L)
}
