# Covariates: colData columns the decoder conditions on (mssvae.io.covariates in
# the Python core).

# Gaussian data with a shared program and a strong additive batch shift on every
# gene; batches cross the groups.
sim_batch <- function(n.per = 60L, G = 24L, seed = 2L) {
    set.seed(seed)
    grp <- rep(c("A", "B", "C"), each = n.per)
    N <- length(grp)
    batch <- factor(sample(c("b1", "b2"), N, replace = TRUE),
        levels = c("b1", "b2"))
    z <- stats::rnorm(N)
    x <- matrix(stats::rnorm(G * N, sd = 0.3), G, N)
    x[1:8, ] <- x[1:8, ] + rep(4 * z, each = 8)
    shift <- stats::rnorm(G, sd = 4)
    x[, batch == "b2"] <- x[, batch == "b2"] + shift
    dimnames(x) <- list(sprintf("gene%02d", seq_len(G)),
        sprintf("cell%03d", seq_len(N)))
    cd <- S4Vectors::DataFrame(condition = grp, batch = batch,
        depth = stats::rnorm(N), row.names = colnames(x))
    SingleCellExperiment(assays = list(logcounts = x), colData = cd)
}

# Share of the latents' variance explained by the batch means
# (mssvae.sim.metrics.label_r2).
batch_r2 <- function(z, batch) {
    z <- scale(z, scale = FALSE)
    means <- rowsum(z, batch) / as.vector(table(batch))
    sum(as.vector(table(batch)) * rowSums(means^2)) / sum(z^2)
}

test_that("covariates remove a planted batch from the shared latents", {
    skip_without_python()
    sce <- sim_batch()
    # lambda0.breaks: the paper's 5% and 30% of 25 epochs of 3 steps
    args <- list(sce, group = "condition", assay.type = "logcounts",
        likelihood = "gaussian", n.shared = 4L, n.specific = 1L,
        hidden = c(16L, 16L), epochs = 25L, batch.size = 64L, seed = 0L,
        threads = 1L, lambda0.breaks = c(4L, 22L))
    without <- do.call(fitMSSVAE, args)
    with <- do.call(fitMSSVAE, c(args, list(covariates = "batch")))
    r2_without <- batch_r2(reducedDim(without, "MSSVAE_shared"), sce$batch)
    r2_with <- batch_r2(reducedDim(with, "MSSVAE_shared"), sce$batch)
    expect_gt(r2_without, 0.2)
    expect_lt(r2_with, 0.25 * r2_without)
    md <- metadata(with)$MSSVAE
    expect_equal(as.character(unlist(md$covariates$columns)), "batch[b2]")
    expect_equal(dim(md$covariate_effects), c(nrow(sce), 1L))
    expect_equal(rownames(md$covariate_effects), rownames(sce))
    expect_null(metadata(without)$MSSVAE$covariates)
})

test_that("factor levels: reference; numbers standardised; coding saved", {
    skip_without_python()
    sce <- make_sce()
    sce$batch <- factor(sce$batch, levels = c("b2", "b1"))
    sce$depth <- seq_len(ncol(sce)) * 10
    dir <- tempfile("mssvae_cov")
    fit <- fit_fast(sce, covariates = c("batch", "depth"), model.dir = dir)
    cv <- metadata(fit)$MSSVAE$covariates
    expect_equal(as.character(unlist(cv$columns)), c("batch[b1]", "depth"))
    expect_equal(as.numeric(cv$center$depth), mean(sce$depth), tolerance = 1e-6)
    expect_equal(dim(metadata(fit)$MSSVAE$covariate_effects), c(nrow(sce), 2L))
    # the saved model knows the coding (Python:
    # MSSVAE.load(dir).covariate_encoding)
    model <- reticulate::import("mssvae")$MSSVAE$load(dir)
    enc <- model$covariate_encoding$to_dict()
    expect_equal(as.character(unlist(enc$levels$batch)), c("b2", "b1"))
    # a data.frame of covariates works as well as column names
    fit2 <- fit_fast(sce,
        covariates = data.frame(lane = rep(c("x", "y", "z"), 20)))
    expect_equal(as.character(unlist(metadata(fit2)$MSSVAE$covariates$columns)),
        c("lane[y]", "lane[z]"))
})

test_that("bad covariates stop with a message that says where", {
    skip_without_python()
    sce <- make_sce()
    expect_error(fit_fast(sce, covariates = c("batch", "donor")),
        paste0(
            "covariate column \"donor\" is not in colData\\(x\\); available ",
            "columns: condition, batch"))
    bad <- sce
    bad$depth <- rnorm(ncol(bad))
    bad$depth[c(6, 11)] <- NA
    expect_error(fit_fast(bad, covariates = "depth"),
        paste0(
            "covariate \"depth\" has 2 missing \\(NA/NaN/infinite\\) values ",
            "\\(first: sample 'cell06' \\(column 6\\)\\)"))
    bad$batch[3] <- NA
    expect_error(fit_fast(bad, covariates = "batch"),
        "covariate \"batch\" has 1 missing .*'cell03' \\(column 3\\)")
    expect_error(fit_fast(sce, covariates = data.frame(a = 1:3)),
        "covariates has 3 rows for 60 samples")
    one <- sce
    one$batch <- "b1"
    err <- expect_error(fit_fast(one, covariates = "batch"),
        class = "mssvae_input_error")
    expect_match(conditionMessage(err),
        "covariate 'batch' has a single level ('b1')", fixed = TRUE)
})
