# Every bad input stops with a message that says what is wrong and what to do.

test_that("group: unknown column, length, NA labels, tiny groups, reserved", {
    sce <- make_sce()
    expect_error(fit_fast(sce, group = "disease"),
        paste0("group column \"disease\" is not in colData\\(x\\); available ",
            "columns: condition, batch"))
    expect_error(fitMSSVAE(sce),
        paste0("give `group`: the name of a colData column \\(one of: ",
            "condition, batch\\)"))
    expect_error(fit_fast(sce, group = c("A", "B")),
        "`group` has 2 labels for 60 samples")
    g <- as.character(sce$condition)
    g[c(4, 9)] <- NA
    expect_error(fit_fast(sce, group = g),
        paste0("2 samples have no group label \\(first: sample 'cell04' ",
            "\\(column 4\\)\\)"))
    g <- as.character(sce$condition)
    g[1] <- "D"
    expect_error(fit_fast(sce, group = g),
        "every group needs at least 2 samples; too small: \"D\" \\(1\\)")
    expect_error(fit_fast(sce, group = sub("A", "shared", g)),
        "a group is named \"shared\"")
})

test_that("assay, likelihood, group vectors, subset.row are checked in R", {
    sce <- make_sce()
    expect_error(fit_fast(sce, assay.type = "logcounts"),
        "assay \"logcounts\" not found in x; available assays: counts")
    expect_error(fit_fast(sce, assay.type = 3),
        "assay.type = 3 is out of range: x has 1 assays")
    expect_error(fit_fast(sce, likelihood = "poisson"),
        "likelihood must be one of \"nb\", \"gaussian\"")
    expect_error(fit_fast(sce, n.specific = c(2, 3)),
        "n.specific with 2 values must be named by group")
    expect_error(fit_fast(sce, n.specific = c(A = 2, B = 3)),
        "n.specific has no entry for groups C")
    expect_error(fit_fast(sce, learning.rate = 0.1),
        "unknown argument learning.rate; fitMSSVAE also takes: lr, lr.w")
    expect_error(fit_fast(sce, subset.row = c("gene01", "TP53")),
        "1 features in subset.row are not rownames of x: TP53")
    expect_error(fit_fast(sce, subset.row = 0:3),
        "subset.row must hold row indices between 1 and 30")
    expect_error(fit_fast(sce, subset.row = c(TRUE, FALSE)),
        "a logical subset.row needs one value per feature \\(30\\)")
})

test_that("settings are checked by the core and named in R's terms", {
    skip_without_python()
    sce <- make_sce()
    expect_error(fit_fast(sce, n.shared = 0),
        "n.shared must be a whole number >= 1; got 0",
        class = "mssvae_input_error")
    expect_error(fit_fast(sce, epochs = 2.5),
        "epochs must be a whole number >= 1")
    expect_error(fit_fast(sce, threads = 0),
        "threads must be a whole number >= 1")
    expect_error(fit_fast(sce, hidden = 8),
        "hidden must give the widths of the two hidden layers")
    expect_error(fit_fast(sce, lr.w = "fast"),
        "lr.w must be a positive number; got 'fast'", fixed = TRUE)
    expect_error(fit_fast(sce, n.specific = c(A = 1, B = -2, C = 1)),
        "n.specific must be a whole number >= 0; got -2")
    file <- tempfile()
    writeLines("", file)
    expect_error(fit_fast(sce, model.dir = file.path(file, "model")),
        paste0("model.dir .* cannot be made: .* is a file; give a folder you ",
            "can write to"))
    expect_error(fit_fast(sce, resume = TRUE),
        "resume=True continues from the checkpoint in model.dir")
    skip_if(nzchar(Sys.which("nvidia-smi")), "this machine may have CUDA")
    expect_error(fit_fast(sce, device = "cuda"),
        paste0("device 'cuda' is not available: this PyTorch sees no CUDA ",
            "GPU; use device='cpu'"), fixed = TRUE)
})

test_that("x: data.frames, vectors and matrices with a column-name group", {
    s <- sim_counts()
    expect_error(fit_fast(as.data.frame(s$counts), group = s$group),
        "convert a data.frame with as.matrix\\(\\)")
    expect_error(fit_fast(1:10, group = "a"),
        paste0("x must be a SummarizedExperiment, a SingleCellExperiment or a ",
            "features x samples matrix"))
    expect_error(fit_fast(s$counts, group = "condition"),
        "a matrix has no colData: give one group label per sample")
    expect_error(fit_fast(matrix(letters[1:4], 2), group = c("a", "a")),
        "the assay must be numeric")
})

test_that("errors from the Python core arrive with their message", {
    skip_without_python()
    sce <- make_sce()
    bad <- sce
    counts(bad)[3, 2] <- -1L
    err <- expect_error(fit_fast(bad), class = "mssvae_input_error")
    expect_match(conditionMessage(err),
        paste0("the negative binomial model needs counts, but the data hold 1 ",
            "negative values"))
    expect_match(conditionMessage(err),
        "sample 'cell02' (column 2), feature 'gene03' (row 3)", fixed = TRUE)
    expect_match(conditionMessage(err), "(assay.type=...)", fixed = TRUE)

    frac <- sce
    assay(frac, "counts") <- assay(frac, "counts") + 0.5
    expect_error(fit_fast(frac), "the data hold 1800 non-integer values")
    expect_error(fit_fast(frac, likelihood = "gaussian"), NA)

    nan <- sce
    assay(nan, "counts") <- assay(nan, "counts") * 1.0
    assay(nan, "counts")[7, 5] <- NaN
    expect_error(fit_fast(nan),
        paste0("the data hold 1 NaN or infinite values \\(first at sample ",
            "'cell05' \\(column 5\\), feature 'gene07' \\(row 7\\)\\)"))

    expect_error(fit_fast(sce, n.shared = 30),
        paste0(
            "more factors than features: K_S \\+ K_m = 32 but only 30 usable ",
            "features; lower n.shared / n.specific"))

    empty <- sce
    counts(empty)[, 3] <- 0L
    expect_error(fit_fast(empty),
        "1 samples have no counts at all; remove them before fitting")
})

test_that("readers and plots refuse objects without results", {
    sce <- make_sce()
    expect_error(factorGeneSets(sce),
        paste0("x holds no MSSVAE results .* run fitMSSVAE\\(x, group = ",
            "\\.\\.\\.\\) first"))
    expect_error(loadingsTable(sce), "no MSSVAE results")
    expect_error(plotLoss(sce), "no MSSVAE results")
    expect_error(plotLatents(sce), "no MSSVAE results")
    expect_error(factorGeneSets(matrix(1)), "x must be a SummarizedExperiment")
    expect_error(factorGeneSets(fake_fit(), which = "D"),
        "which = \"D\" is not \"all\", \"shared\" or a group; groups: A, B, C")
})
