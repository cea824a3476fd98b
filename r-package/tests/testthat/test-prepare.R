# prepareMSSVAE runs mssvae.pp.prepare: the same genes and samples as Python.

test_that("prepareMSSVAE keeps what mssvae.pp.prepare keeps, with the report", {
    skip_without_python()
    sce <- make_sce(G = 60L)
    counts(sce)[, 1] <- 0L
    counts(sce)[, 2] <- 1L
    counts(sce)[40:45, ] <- 0L
    expect_message(out <- prepareMSSVAE(sce, min.total = 100, min.counts = 25,
        n.top = 20), "mssvae prepare")
    # by hand: samples 1 and 2 have totals below 100; genes 40-45 have no counts
    expect_identical(colnames(out), colnames(sce)[-(1:2)])
    expect_identical(nrow(out), 20L)
    expect_false(any(rownames(out) %in% rownames(sce)[40:45]))
    # original order
    expect_identical(rownames(out),
        rownames(sce)[rownames(sce) %in% rownames(out)])
    expect_identical(sort(rowData(out)$pearson_residual_rank), 0:19)
    rep <- metadata(out)$MSSVAE_prepare
    expect_identical(rep$filter_samples$n_removed, 2L)
    expect_identical(rep$highly_variable_pearson$n_kept, 20L)
    expect_match(rep$text, "highly_variable_pearson")

    # the Python function itself, on the same data
    ad <- reticulate::import("anndata", convert = FALSE)
    pp <- reticulate::import("mssvae.pp", convert = FALSE)
    a <- ad$AnnData(X = t(counts(sce)) * 1.0)
    a$obs_names <- reticulate::r_to_py(colnames(sce))
    a$var_names <- reticulate::r_to_py(rownames(sce))
    py <- pp$prepare(a, min_total = 100, min_counts = 25, n_top = 20L)
    expect_identical(as.character(reticulate::py_to_r(py$var_names$tolist())),
        rownames(out))
    expect_identical(as.character(reticulate::py_to_r(py$obs_names$tolist())),
        colnames(out))
})

test_that("prepareMSSVAE matches scanpy's Pearson-residual ranking (example)", {
    skip_without_python()
    fixture <- file.path(mssvae:::.install_record()$repository, "tests", "data",
        "pbmc_demo_pearson_top200.txt")
    skip_if_not(file.exists(fixture),
        "the repository's test fixture is not available")
    ref <- utils::read.table(fixture, comment.char = "#", header = FALSE,
        stringsAsFactors = FALSE)
    sce <- mssvaeExampleData()
    out <- prepareMSSVAE(sce, min.total = 0, min.counts = 0, min.frac = 0,
        n.top = 200, verbose = FALSE)
    expect_setequal(rownames(out), ref[[1]])
})

test_that("prepareMSSVAE errors say which step and what to change", {
    skip_without_python()
    sce <- make_sce()
    expect_error(prepareMSSVAE(sce, verbose = FALSE),
        "min.total=268,337 would remove all 60 samples")
    expect_error(prepareMSSVAE(sce, assay.type = "logcounts"),
        "assay \"logcounts\" not found")
    assay(sce, "counts") <- assay(sce, "counts") + 0.5
    expect_error(prepareMSSVAE(sce, min.total = 1, verbose = FALSE),
        "needs raw counts \\(non-negative integers\\)")
})
