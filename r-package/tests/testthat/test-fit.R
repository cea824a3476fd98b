# Fits against the real Python core, and the results contract in
# rowData/reducedDims/metadata.

check_contract <- function(x, groups, K.shared = 3L, K.spec = 2L) {
    rd <- rowData(x)
    W <- rd$MSSVAE_W_shared
    expect_true(is.matrix(W))
    expect_identical(dim(W), c(nrow(x), K.shared))
    expect_identical(colnames(W), paste0("shared_", seq_len(K.shared)))
    expect_identical(rownames(W), rownames(x))
    for (g in groups) {
        Wg <- rd[[paste0("MSSVAE_W_", g)]]
        expect_identical(dim(Wg), c(nrow(x), K.spec))
        expect_identical(colnames(Wg), paste0(g, "_", seq_len(K.spec)))
    }
    md <- metadata(x)$MSSVAE
    expect_identical(md$groups, groups)
    expect_named(md$eta_shared, paste0("shared_", seq_len(K.shared)))
    expect_length(md$eta_specific, K.spec * length(groups))
    expect_identical(dim(md$p_star),
        c(nrow(x), K.shared + K.spec * length(groups)))
    expect_s3_class(md$history, "data.frame")
    expect_true(all(c("epoch", "loss", "lambda0") %in% names(md$history)))
    expect_identical(md$versions$mssvae, as.character(packageVersion("mssvae")))
    expect_identical(md$versions$mssvae_r,
        as.character(packageVersion("mssvae")))
    expect_true(is.list(md$settings))
    expect_identical(levels(x$MSSVAE_group), groups)
}

test_that("fit on a SingleCellExperiment with a dense assay and a group column",
    {
    skip_without_python()
    sce <- make_sce()
    fit <- fit_fast(sce, group = "condition")
    expect_s4_class(fit, "SingleCellExperiment")
    # factor levels set the group order
    check_contract(fit, c("C", "A", "B"))
    expect_identical(reducedDimNames(fit),
        c("MSSVAE_shared", "MSSVAE_specific"))
    zs <- reducedDim(fit, "MSSVAE_shared")
    expect_identical(dim(zs), c(ncol(sce), 3L))
    expect_identical(rownames(zs), colnames(sce))
    expect_identical(colnames(reducedDim(fit, "MSSVAE_specific")),
        c("specific_1", "specific_2"))
    expect_identical(as.character(fit$MSSVAE_group),
        as.character(sce$condition))
    expect_identical(metadata(fit)$MSSVAE$group_key, "condition")
    expect_identical(metadata(fit)$MSSVAE$settings$epochs, 2L)
    # the NB default
    expect_identical(metadata(fit)$MSSVAE$settings$encoder_input,
        "standardized")
    expect_identical(nrow(metadata(fit)$MSSVAE$history), 2L)
    raw <- fit_fast(sce, group = "condition", encoder.input = "raw")
    expect_identical(metadata(raw)$MSSVAE$settings$encoder_input, "raw")
    expect_false(identical(reducedDim(raw, "MSSVAE_shared"), zs))
    # the input is otherwise untouched
    expect_identical(assay(fit, "counts"), assay(sce, "counts"))
    expect_identical(colData(fit)[, 1:2], colData(sce))
})

test_that("fold.switched moves a program of every group to the shared block", {
    skip_without_python()
    sce <- make_sce()
    plain <- fit_fast(sce, group = "condition")
    fold <- fit_fast(sce, group = "condition", fold.switched = TRUE)
    folded <- metadata(fold)$MSSVAE$folded
    # after two epochs W is still dense, so every group's columns share their
    # genes
    expect_gt(length(folded), 0L)
    pattern <- "^C_[0-9]+ \\+ A_[0-9]+ \\+ B_[0-9]+ -> shared_[0-9]+$"
    expect_true(all(grepl(pattern, folded)))
    check_contract(fold, c("C", "A", "B"), K.shared = 3L + length(folded))
    # the same fit: the first K_S shared columns are untouched
    expect_identical(rowData(fold)$MSSVAE_W_shared[, 1:3],
        rowData(plain)$MSSVAE_W_shared)
    expect_null(metadata(plain)$MSSVAE$folded)
})

test_that("a sparse dgCMatrix assay gives the same fit as the dense one", {
    skip_without_python()
    dense <- fit_fast(make_sce(sparse = FALSE))
    sparse <- fit_fast(make_sce(sparse = TRUE))
    expect_s4_class(assay(sparse, "counts"), "dgCMatrix")
    # the core computes its start values from the same float64 row blocks for
    # both inputs
    expect_identical(rowData(sparse)$MSSVAE_W_shared,
        rowData(dense)$MSSVAE_W_shared)
    expect_identical(reducedDim(sparse, "MSSVAE_shared"),
        reducedDim(dense, "MSSVAE_shared"))
})

test_that("group as a column name and as a vector give the same fit", {
    skip_without_python()
    sce <- make_sce()
    by_name <- fit_fast(sce, group = "condition")
    by_vector <- fit_fast(sce, group = sce$condition)
    expect_identical(rowData(by_vector)$MSSVAE_W_shared,
        rowData(by_name)$MSSVAE_W_shared)
    expect_identical(metadata(by_vector)$MSSVAE$group_key, "none")
    # a character vector: groups sorted
    by_chr <- fit_fast(sce, group = as.character(sce$condition))
    expect_identical(metadata(by_chr)$MSSVAE$groups, c("A", "B", "C"))
})

test_that("a plain SummarizedExperiment keeps latents in colData", {
    skip_without_python()
    fit <- fit_fast(make_se())
    expect_s4_class(fit, "SummarizedExperiment")
    expect_false(is(fit, "SingleCellExperiment"))
    check_contract(fit, c("C", "A", "B"))
    expect_identical(dim(fit$MSSVAE_shared), c(ncol(fit), 3L))
    expect_identical(colnames(fit$MSSVAE_specific),
        c("specific_1", "specific_2"))
})

test_that("a plain matrix becomes a SingleCellExperiment", {
    skip_without_python()
    s <- sim_counts()
    fit <- fit_fast(s$counts, group = s$group)
    expect_s4_class(fit, "SingleCellExperiment")
    expect_identical(assayNames(fit), "counts")
    check_contract(fit, c("A", "B", "C"))
    fit2 <- fit_fast(methods::as(s$counts, "CsparseMatrix"), group = s$group,
        assay.type = "raw")
    expect_identical(assayNames(fit2), "raw")
})

test_that("subset.row fits only those features; the others get NA rows", {
    skip_without_python()
    sce <- make_sce()
    keep <- rownames(sce)[c(1:12, 20:25)]
    fit <- fit_fast(sce, subset.row = keep)
    W <- rowData(fit)$MSSVAE_W_shared
    out <- !rownames(sce) %in% keep
    expect_true(all(is.na(W[out, ])))
    expect_false(anyNA(W[!out, ]))
    expect_true(all(is.na(rowData(fit)$MSSVAE_W_A[out, ])))
    md <- metadata(fit)$MSSVAE
    expect_identical(md$subset_row, which(!out))
    expect_identical(unname(md$features_used), !out)
    expect_true(all(is.na(md$p_star[out, ])))
    expect_true(all(is.na(md$phi[out])))
    # logical and integer indices select the same features
    fit_l <- fit_fast(sce, subset.row = !out)
    expect_identical(rowData(fit_l)$MSSVAE_W_shared, W)
    # genes outside the fit are in no gene set and not in the loadings table;
    # the warning about dense sets counts only the 18 fitted features
    expect_warning(sets <- factorGeneSets(fit, threshold = 0),
        "more than half of the 18 fitted features")
    expect_false(any(unlist(sets) %in% rownames(sce)[out]))
    expect_false(any(loadingsTable(fit)$gene %in% rownames(sce)[out]))
})

test_that("n.specific per group, the Gaussian model, and further settings", {
    skip_without_python()
    sce <- make_sce()
    assay(sce, "logcounts") <- log1p(assay(sce, "counts"))
    fit <- fit_fast(sce, assay.type = "logcounts", likelihood = "gaussian",
        n.specific = c(A = 1, B = 2, C = 3), lr = 0.005, lr.w = 0.02,
        sparsity.weight = 2)
    md <- metadata(fit)$MSSVAE
    expect_identical(md$n_specific, c(C = 3L, A = 1L, B = 2L))
    expect_identical(ncol(rowData(fit)$MSSVAE_W_A), 1L)
    expect_identical(ncol(rowData(fit)$MSSVAE_W_C), 3L)
    expect_identical(md$settings$likelihood, "gaussian")
    expect_equal(md$settings$lr_w, 0.02)
    expect_equal(md$settings$sparsity_weight, 2)
    expect_true("sigma2" %in% names(md))
    expect_identical(md$assay_type, "logcounts")
})

test_that("refitting replaces the previous results", {
    skip_without_python()
    sce <- make_sce()
    fit1 <- fit_fast(sce, group = "condition")
    fit2 <- fit_fast(fit1, group = "batch")
    expect_false(any(c("MSSVAE_W_A", "MSSVAE_W_B",
        "MSSVAE_W_C") %in% colnames(rowData(fit2))))
    expect_true(all(c("MSSVAE_W_b1",
        "MSSVAE_W_b2") %in% colnames(rowData(fit2))))
    expect_identical(metadata(fit2)$MSSVAE$groups, c("b1", "b2"))
})

test_that("same seed, same results; constant features warn, get 0 loadings", {
    skip_without_python()
    sce <- make_sce()
    counts(sce)[5, ] <- 3L
    expect_warning(a <- fit_fast(sce), "constant")
    expect_warning(b <- fit_fast(sce), "constant")
    expect_identical(rowData(a)$MSSVAE_W_shared, rowData(b)$MSSVAE_W_shared)
    expect_true(all(rowData(a)$MSSVAE_W_shared[5, ] == 0))
    expect_false(metadata(a)$MSSVAE$features_used[[5]])
})

test_that("model.dir saves a model Python can load", {
    skip_without_python()
    dir <- tempfile("mssvae-model")
    fit <- fit_fast(make_sce(), model.dir = dir)
    expect_true(file.exists(file.path(dir, "model.pt")))
    expect_identical(metadata(fit)$MSSVAE$model_dir, normalizePath(dir))
})

test_that("an interrupted fit says how to resume, and resume = TRUE completes it", {
    skip_without_python()
    sce <- make_sce()
    whole <- fit_fast(sce, epochs = 4L)
    dir <- tempfile("mssvae-resume")
    expect_error(interrupting_at(2L,
        fit_fast(sce, epochs = 4L, model.dir = dir, verbose = TRUE)),
        paste0("fit interrupted after 2 of at most 4 epochs; the state is ",
            "saved in .*model.dir = .*resume = TRUE"))
    resumed <- fit_fast(sce, epochs = 4L, model.dir = dir, resume = TRUE)
    expect_identical(rowData(resumed)$MSSVAE_W_shared,
        rowData(whole)$MSSVAE_W_shared)
    expect_error(fit_fast(sce, resume = TRUE), "give the model.dir")
    expect_error(fit_fast(sce, resume = NA), "TRUE or FALSE")
})

test_that("an interrupted fit without model.dir says how to keep the work", {
    skip_without_python()
    expect_error(interrupting_at(1L, fit_fast(make_sce(), verbose = TRUE)),
        "after 1 of at most 2 epochs; nothing was kept: give model.dir")
})

test_that("progress is shown in interactive sessions only, not under knitr or testthat", {
    expect_false(mssvae:::.show_progress())  # testthat runs this
    withr::local_envvar(TESTTHAT = "false")
    expect_identical(mssvae:::.show_progress(), interactive())
    withr::local_options(knitr.in.progress = TRUE)
    expect_false(mssvae:::.show_progress())
})

test_that("the progress callback draws epochs and turns an interrupt into a stop", {
    expect_false(mssvae:::.fit_progress(FALSE))
    withr::local_options(cli.progress_show_after = 0, cli.dynamic = FALSE)
    draw <- function() {
        f <- mssvae:::.fit_progress(TRUE)
        out <- list(f(1L, 3L, list(loss = 12.5, lambda0 = 1)),
            f(3L, 3L, list(loss = 10.25, lambda0 = 15, stable_epochs = 2L),
                final = TRUE))
        out
    }
    shown <- paste(capture.output(res <- draw(), type = "message"),
        collapse = "\n")
    expect_null(res[[1]])
    expect_match(shown, "epoch 3/3 loss 10.25 \u03bb0 15 stable 2")
    # several starts at once report the starts finished
    starts <- paste(capture.output(type = "message", {
        f <- mssvae:::.fit_progress(TRUE)
        invisible(f(1L, 3L, list(starts_done = 1L, starts_running = 2L),
            final = TRUE))
    }), collapse = "\n")
    expect_match(starts, "starts done 1/3 2 running")
    # R's interrupt while the bar is drawn (here, as the loss is read): the
    # trainer is told to stop
    record <- new.env()
    record$lambda0 <- 1
    makeActiveBinding("loss", function() signalCondition(
        structure(class = c("interrupt", "condition"), list())), record)
    f <- mssvae:::.fit_progress(TRUE)
    expect_identical(f(1L, 3L, record), "interrupt")
})

test_that("a fit with verbose = TRUE ends with a message that says why it stopped", {
    skip_without_python()
    expect_message(fit_fast(make_sce(), verbose = TRUE),
        "mssvae: stopped after 2 epochs \\(.*steps\\): reached the maximum")
})
