# The fit's gene-set thresholds, one per factor, on wide Gaussian data (a few
# hundred samples, many genes), where the free decoder shrinks W below the
# paper's 0.5.

test_that("default gene sets of a wide Gaussian fit hold every planted program", {
    skip_if_not(mssvaeAvailable())
    sim <- reticulate::import("mssvae.sim", convert = FALSE)
    a <- sim$simulate("wide", seed = 0L, n_per_group = 80L,
        n_features = 800L, n_shared = 2L, shared_size = 80L,
        specific_size = 50L)
    py <- reticulate::py_to_r
    genes <- as.character(py(a$var_names$tolist()))
    x <- t(py(a$X))
    dimnames(x) <- list(genes, as.character(py(a$obs_names$tolist())))
    se <- SummarizedExperiment(assays = list(logexpr = x),
        colData = S4Vectors::DataFrame(group = as.character(
            py(a$obs$group$astype("str")$tolist())), row.names = colnames(x)))
    truth <- cbind(py(a$varm$`__getitem__`("true_W_shared")),
        py(a$varm$`__getitem__`("true_W_specific"))) != 0
    fit <- suppressWarnings(fitMSSVAE(se, group = "group",
        assay.type = "logexpr", likelihood = "gaussian", n.shared = 6L,
        n.specific = 2L, epochs = 150L, lambda0.breaks = c(30L, 180L),
        seed = 0L, threads = 1L))
    t <- as.numeric(S4Vectors::metadata(fit)$MSSVAE$gene_set_threshold)
    expect_length(t, 6L + 3L * 2L)
    expect_true(all(t >= 0.03 & t <= 0.5) && any(t < 0.5))
    sets <- factorGeneSets(fit)
    for (j in seq_len(ncol(truth))) {
        program <- genes[truth[, j]]
        best <- max(vapply(sets, function(s) {
            length(intersect(program, s)) / length(union(program, s))
        }, numeric(1)), 0)
        expect_gte(best, 0.8, label = sprintf("best Jaccard of program %d", j))
    }
    active <- activeFactors(fit)
    expect_setequal(active$factor, names(sets))
    expect_equal(active$n_genes, unname(lengths(sets[active$factor])))
    s <- summarizeMSSVAE(fit)
    expect_equal(unname(s$threshold), t)
    expect_output(print(s), "factors active at \\|W\\| above each factor's threshold")
    # a number applies to every factor: the paper's 0.5 misses the programs
    expect_lt(length(unlist(factorGeneSets(fit, threshold = 0.5))),
        length(unlist(sets)) / 2)
})
