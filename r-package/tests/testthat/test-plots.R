# Every figure builds.

builds <- function(p) {
    expect_s3_class(p, "ggplot")
    b <- ggplot2::ggplot_build(p)
    expect_gt(nrow(b$data[[1]]), 0L)
    invisible(b)
}

test_that("plotLoadings shows the active factors, a panel per block", {
    x <- fake_fit()
    b <- builds(plotLoadings(x))
    df <- plotLoadings(x)$data
    expect_identical(levels(df$factor), c("shared_1", "A_1", "C_1"))
    expect_setequal(as.character(unique(df$gene)),
        c("gene01", "gene02", "gene03", "gene05", "gene06"))
    expect_identical(nlevels(droplevels(df$block)), 3L)
    expect_identical(nrow(plotLoadings(x, max.genes = 2)$data) / 3L, 2)
    expect_error(plotLoadings(x, threshold = 10),
        "no factor has a loading with \\|W\\| > 10")
})

test_that("plotLoss draws each component, with the annealing steps", {
    x <- fake_fit()
    p <- plotLoss(x)
    builds(p)
    expect_setequal(levels(p$data$component), c("loss", "reconstruction", "kl"))
    h <- metadata(x)$MSSVAE$history
    h$prior_noise <- 0
    metadata(x)$MSSVAE$history <- h
    # zero throughout: left out
    expect_false("prior_noise" %in% levels(plotLoss(x)$data$component))
    expect_identical(levels(plotLoss(x, components = "loss")$data$component),
        "loss")
    expect_error(plotLoss(x, components = "elbo"),
        "unknown components elbo; available: loss, reconstruction, kl")
})

test_that("plotLatents draws shared and group-specific latents", {
    x <- fake_fit()
    builds(plotLatents(x))
    builds(plotLatents(x, dims = c("shared_2", "shared_1"),
        colour.by = "batch"))
    p <- plotLatents(x, type = "specific")
    builds(p)
    # only group A has two factors
    expect_identical(unique(p$data$panel), "A\n(x: A_1, y: A_2)")
    expect_error(plotLatents(x, colour.by = "tissue"),
        "colour.by = \"tissue\" is not a colData column")
    expect_error(plotLatents(x, dims = c("shared_1", "shared_9")),
        "dims must name two of the shared factors")
})

test_that("the figures build on a real fit", {
    skip_without_python()
    fit <- fit_fast(make_sce(), epochs = 3L)
    builds(plotLoadings(fit, threshold = 0))
    builds(plotLoss(fit))
    builds(plotLatents(fit))
    builds(plotLatents(fit, type = "specific", colour.by = "batch"))
})
