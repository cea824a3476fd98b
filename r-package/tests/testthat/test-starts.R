# Several starts: the chosen start, every start's seed and loss, and the
# stability of each factor in the tables and the gene sets.

# fake_fit()'s factors are shared_1, shared_2, A_1, A_2, B_1, C_1; the active
# ones are shared_1, A_1 and C_1
with_stability <- function(sce) {
    metadata(sce)$MSSVAE$stability <- list(
        stability = c(1, 0, 0.25, 0, 0, 0.75),
        median_jaccard = c(0.9, 0, 0.2, 0, 0, 0.6), min_jaccard = 0.5,
        jaccard = matrix(c(0.9, 0, 0, 0, 0, 0.6, 1, 0, 1, 0, 0, 1,
            0.8, 0, 0.2, 0, 0, 0.6, 0.95, 0, 0, 0, 0, 0.1), 6L, 4L,
            dimnames = list(c("shared_1", "shared_2", "A_1", "A_2", "B_1",
                "C_1"), c("3", "4", "5", "6"))))
    metadata(sce)$MSSVAE$starts <- list(seed = 3:6,
        objective = c(10, 9, 11, 12), chosen = 4L)
    sce
}

test_that("activeFactors shows the stability of each factor when recorded", {
    plain <- activeFactors(fake_fit())
    expect_identical(names(plain), mssvae:::.ACTIVE_FACTOR_COLUMNS)
    tab <- activeFactors(with_stability(fake_fit()))
    expect_identical(names(tab), c(mssvae:::.ACTIVE_FACTOR_COLUMNS,
        mssvae:::.STABILITY_COLUMNS))
    expect_identical(tab$factor, c("shared_1", "A_1", "C_1"))
    expect_identical(tab$stability, c(1, 0.25, 0.75))
    expect_identical(tab$median_jaccard, c(0.9, 0.2, 0.6))
})

test_that("factorGeneSets(min.stability =) keeps the stable factors", {
    sce <- with_stability(fake_fit())
    expect_named(factorGeneSets(sce), c("shared_1", "A_1", "C_1"))
    expect_named(factorGeneSets(sce, min.stability = 0.5),
        c("shared_1", "C_1"))
    expect_error(factorGeneSets(sce, min.stability = 2), "in \\[0, 1\\]")
    expect_error(factorGeneSets(fake_fit(), min.stability = 0.5),
        "fit with starts = 5")
})

test_that("summarizeMSSVAE counts the stable factors and lists the starts", {
    s <- summarizeMSSVAE(with_stability(fake_fit()))
    expect_identical(s$blocks$stable, c(1L, 0L, 0L, 1L))
    expect_identical(s$starts$seed, 3:6)
    expect_identical(s$starts$chosen, c(FALSE, TRUE, FALSE, FALSE))
    out <- paste(capture.output(print(s)), collapse = "\n")
    expect_match(out, "starts: 4 (seeds 3, 4, 5, 6); kept seed 4", fixed = TRUE)
    expect_match(out, "stable")
    expect_null(summarizeMSSVAE(fake_fit())$starts)
    expect_null(summarizeMSSVAE(fake_fit())$blocks$stable)
})

test_that("plotStability draws each active factor's match in every start", {
    p <- plotStability(with_stability(fake_fit()))
    expect_s3_class(p, "ggplot")
    d <- p$data
    expect_identical(levels(d$start), c("3", "4 (kept)", "5", "6"))
    expect_identical(nrow(d), 3L * 4L)  # shared_1, A_1, C_1 in 4 starts
    expect_identical(d$jaccard[d$factor == "C_1  0.75"], c(0.6, 1, 0.6, 0.1))
    expect_identical(as.character(unique(d$block)), c("shared", "A", "C"))
    expect_identical(nrow(plotStability(with_stability(fake_fit()),
        active.only = FALSE)$data), 6L * 4L)
    expect_error(plotStability(fake_fit()), "starts of 2 or more")
})

test_that("fitMSSVAE(starts = ) keeps one start and scores every factor", {
    skip_without_python()
    sce <- make_sce()
    # 80 epochs at weight 2: W ends sparse on this data with programs left,
    # so the starts are scored
    fit <- fit_fast(sce, starts = 2L, seed = 4L, epochs = 80L,
        sparsity.weight = 2)
    expect_false(metadata(fit)$MSSVAE$stopping$dense)
    md <- metadata(fit)$MSSVAE
    expect_identical(as.integer(md$starts$seed), 4:5)
    expect_length(md$starts$objective, 2L)
    expect_true(md$starts$chosen %in% 4:5)
    factors <- c(paste0("shared_", 1:3), paste0(rep(c("C", "A", "B"),
        each = 2), "_", 1:2))
    expect_named(md$stability$stability, factors)
    expect_named(md$stability$median_jaccard, factors)
    expect_true(all(md$stability$stability >= 0 &
        md$stability$stability <= 1))
    expect_identical(dimnames(md$stability$jaccard),
        list(factors, c("4", "5")))
    expect_s3_class(plotStability(fit), "ggplot")
    tab <- activeFactors(fit)
    expect_identical(tab$stability, unname(md$stability$stability[tab$factor]))
    expect_false(is.null(summarizeMSSVAE(fit)$starts))
    # the kept start is the fit of one start from its seed
    one <- fit_fast(sce, seed = as.integer(md$starts$chosen), epochs = 80L,
        sparsity.weight = 2)
    expect_identical(rowData(fit)$MSSVAE_W_shared,
        rowData(one)$MSSVAE_W_shared)
    expect_error(fit_fast(sce, starts = 0L), "starts")
    # two starts at once, each in its own process on one thread: the same fit
    par <- fit_fast(sce, starts = 2L, seed = 4L, epochs = 80L,
        sparsity.weight = 2, threads = 2L, parallel.starts = 2L)
    expect_identical(rowData(par)$MSSVAE_W_shared,
        rowData(fit)$MSSVAE_W_shared)
    expect_identical(metadata(par)$MSSVAE$starts$objective, md$starts$objective)
    expect_error(fit_fast(sce, starts = 2L, parallel.starts = 0L),
        "parallel.starts")
})
