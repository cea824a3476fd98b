# Column names of the tables the package returns. They are defined once, in
# the Python core (mssvae.contract); these copies let the tables be built
# without Python, and test-contract.R checks that they agree with the core's.
.ACTIVE_FACTOR_COLUMNS <- c("factor", "block", "n_genes", "max_abs_w", "eta",
    "top_genes")
# appended to .ACTIVE_FACTOR_COLUMNS when the fit had several starts
.STABILITY_COLUMNS <- c("stability", "median_jaccard")
.GENE_COLUMNS <- c("gene", "score", "mean_log_lr", "frac_positive",
    "mean_full", "mean_shared", "log2_fold_change")
.FACTOR_COLUMNS <- c("factor", "score", "mean_log_lr", "n_genes",
    "max_abs_w", "eta", "top_genes_w", "top_genes_lr")
