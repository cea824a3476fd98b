# rankGroupGenes / rankGroupFactors: through the worker to mssvae.ranking, on a
# tiny saved fit.

test_that("rankGroupGenes: a row per fitted gene, sorted, documented columns", {
    skip_without_python()
    dir <- tempfile("mssvae_rank_")
    sce <- make_sce()
    fit <- fit_fast(sce, model.dir = dir, subset.row = 1:25)
    rk <- rankGroupGenes(fit, "A")
    expect_s3_class(rk, "data.frame")
    expect_identical(names(rk),
        c("gene", "score", "mean_log_lr", "frac_positive", "mean_full",
        "mean_shared",
            "log2_fold_change"))
    expect_identical(nrow(rk), 25L)
    expect_setequal(rk$gene, rownames(sce)[1:25])
    expect_type(rk$gene, "character")
    expect_false(is.unsorted(rev(rk$score)))
    expect_true(all(rk$frac_positive >= 0 & rk$frac_positive <= 1))
    expect_equal(rk$mean_log_lr, rk$score / sum(fit$MSSVAE_group == "A"))
    # NB model: fold changes are defined
    expect_true(all(is.finite(rk$log2_fold_change)))

    fac <- rankGroupFactors(fit, "B", n.top = 3L)
    expect_identical(names(fac),
        c("factor", "score", "mean_log_lr", "n_genes", "max_abs_w", "eta",
        "top_genes_w",
            "top_genes_lr"))
    expect_setequal(fac$factor, c("B_1", "B_2"))
    expect_type(fac$n_genes, "integer")
    expect_true(all(lengths(strsplit(fac$top_genes_lr, ", ")) == 3L))
})

test_that("unknown group, missing model, unfitted object say what to do", {
    skip_without_python()
    dir <- tempfile("mssvae_rank_")
    fit <- fit_fast(make_sce(), model.dir = dir)
    expect_error(rankGroupGenes(fit, "D"),
        "group \"D\" is not a group of this fit; groups: C, A, B")
    expect_error(rankGroupGenes(fit),
        "give `group`: one of the fitted groups: C, A, B")
    expect_error(rankGroupGenes(fit, "A", model.dir = file.path(dir, "nope")),
        "model.dir \".*nope\" does not exist")
    unsaved <- fit_fast(make_sce())
    expect_error(rankGroupGenes(unsaved, "A"),
        paste0("x has no saved model .* refit with fitMSSVAE\\(\\.\\.\\., ",
            "model.dir = \"dir\"\\)"))
    expect_error(rankGroupGenes(make_sce(), "A"), "holds no MSSVAE results")
})

test_that("covariates: the fit's colData columns, or a table given instead", {
    skip_without_python()
    dir <- tempfile("mssvae_rank_")
    sce <- make_sce()
    sce$batch <- factor(rep(c("b1", "b2"), length.out = ncol(sce)))
    fit <- fit_fast(sce, model.dir = dir, covariates = "batch")
    rk <- rankGroupGenes(fit, "A")
    expect_identical(nrow(rk), nrow(sce))
    expect_true(all(is.finite(rk$score)))
    table <- data.frame(batch = sce$batch)
    fit$batch <- NULL
    expect_error(rankGroupGenes(fit, "A"),
        "covariate column \"batch\" is not in colData\\(x\\)")
    expect_equal(rankGroupGenes(fit, "A", covariates = table), rk)
    fac <- rankGroupFactors(fit, "B", covariates = table)
    expect_setequal(fac$factor, c("B_1", "B_2"))
})
