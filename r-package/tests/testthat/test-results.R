# Reading results back: hand-made loadings, so every number can be checked by
# eye.

test_that("factorGeneSets takes |W| > threshold, by |W|, in block order", {
    x <- fake_fit()
    sets <- factorGeneSets(x)
    expect_identical(names(sets), c("shared_1", "A_1", "C_1"))
    expect_identical(sets$shared_1, c("gene01", "gene02", "gene03"))
    expect_identical(sets$A_1, c("gene06", "gene05"))
    expect_identical(sets$C_1, "gene01")
    expect_identical(factorGeneSets(x, threshold = 0.3)$shared_1,
        c("gene01", "gene02", "gene03", "gene04"))
    expect_identical(names(factorGeneSets(x, which = "shared")), "shared_1")
    expect_identical(names(factorGeneSets(x, which = c("A", "C"))),
        c("A_1", "C_1"))
    expect_identical(names(factorGeneSets(x, min.size = 2)),
        c("shared_1", "A_1"))
    expect_length(factorGeneSets(x, which = "B"), 0L)
})

test_that("factorGeneSets can return another identifier from rowData", {
    x <- fake_fit()
    rowData(x)$entrez <- as.character(1000 + seq_len(nrow(x)))
    expect_identical(factorGeneSets(x, id.column = "entrez")$A_1,
        c("1006", "1005"))
    expect_error(factorGeneSets(x, id.column = "ENSEMBL"),
        "id.column \"ENSEMBL\" is not a rowData column; available: entrez")
})

test_that("loadingsTable is long, complete and typed", {
    x <- fake_fit()
    lt <- loadingsTable(x)
    expect_identical(names(lt), c("gene", "factor", "block", "weight"))
    expect_identical(nrow(lt), 10L * 6L)
    expect_identical(levels(lt$factor),
        c("shared_1", "shared_2", "A_1", "A_2", "B_1", "C_1"))
    expect_identical(levels(lt$block), c("shared", "A", "B", "C"))
    expect_identical(lt$weight[lt$gene == "gene06" & lt$factor == "A_1"], 1.2)
    active <- loadingsTable(x, active.only = TRUE)
    expect_identical(levels(droplevels(active$factor)),
        c("shared_1", "A_1", "C_1"))
    expect_identical(unique(as.character(loadingsTable(x, which = "A")$block)),
        "A")
})

test_that("activeFactors summarises the active factors", {
    af <- activeFactors(fake_fit())
    expect_identical(af$factor, c("shared_1", "A_1", "C_1"))
    expect_identical(af$n_genes, c(3L, 2L, 1L))
    expect_equal(af$max_abs_w, c(0.9, 1.2, 2))
    expect_equal(af$eta, c(0.3, 0.2, 0.1))
    expect_identical(af$top_genes[2], "gene06, gene05")
    expect_identical(nrow(activeFactors(fake_fit(), threshold = 5)), 0L)
})

test_that("gene sets of a real fit feed clusterProfiler-style lists", {
    skip_without_python()
    fit <- fit_fast(make_sce(), epochs = 3L)
    # threshold 0 keeps every gene: the warning says W is not sparse
    expect_warning(sets <- factorGeneSets(fit, threshold = 0),
        "more than half of the 30 fitted features")
    expect_type(sets, "list")
    expect_true(all(vapply(sets, is.character, logical(1))))
    expect_true(all(grepl("^(shared|A|B|C)_[0-9]+$", names(sets))))
    lt <- loadingsTable(fit)
    expect_identical(nrow(lt), nrow(fit) * (3L + 3L * 2L))
})

test_that("factorGeneSets warns when a set holds most of the fitted features", {
    x <- fake_fit()
    rd <- rowData(x)
    W <- rd$MSSVAE_W_shared
    W[1:6, 2] <- 0.9  # 6 of the 10 features
    rd$MSSVAE_W_shared <- W
    rowData(x) <- rd
    expect_warning(sets <- factorGeneSets(x),
        "shared_2 hold more than half of the 10 fitted features")
    expect_length(sets$shared_2, 6L)
    W[6, 2] <- 0  # exactly half: no warning
    rd$MSSVAE_W_shared <- W
    rowData(x) <- rd
    expect_warning(factorGeneSets(x), NA)
    # features outside the fit (NA loadings) do not count
    for (b in c("shared", "A", "B", "C")) {
        m <- rd[[paste0("MSSVAE_W_", b)]]
        m[9:10, ] <- NA
        rd[[paste0("MSSVAE_W_", b)]] <- m
    }
    rowData(x) <- rd
    expect_warning(factorGeneSets(x), "more than half of the 8 fitted")
})

test_that("summarizeMSSVAE counts factors, active factors and set sizes", {
    s <- summarizeMSSVAE(fake_fit())
    expect_s3_class(s, "MSSVAEsummary")
    expect_identical(s$blocks$block, c("shared", "A", "B", "C"))
    expect_identical(s$blocks$factors, c(2L, 2L, 1L, 1L))
    expect_identical(s$blocks$active, c(1L, 1L, 0L, 1L))
    expect_identical(s$blocks$largest_set, c(3L, 2L, 0L, 1L))
    expect_identical(s$blocks$samples, c(15L, 5L, 5L, 5L))
    expect_identical(c(s$n_features, s$n_samples, s$epochs), c(10L, 15L, 4L))
    expect_identical(s$final_loss, 6.5)
    out <- capture.output(print(s))
    expect_match(out[1], "MSSVAE fit .* of 10 features x 15 samples")
    expect_match(out[2], "training: 4 epochs, final loss 6.5")
    expect_true(any(grepl("^ +shared +15 +2 +1 +3$", out)))
    expect_error(summarizeMSSVAE(make_sce()), "holds no MSSVAE results")
})

test_that("the layout is read, removed and stored by exported functions", {
    x <- fake_fit()
    res <- readMSSVAEResults(x)
    expect_identical(res$W_shared, as.matrix(rowData(x)$MSSVAE_W_shared))
    expect_identical(dim(res$W_specific), c(10L, 4L))  # A, B, C side by side
    plain <- dropMSSVAEResults(x)
    expect_null(readMSSVAEResults(plain))
    expect_false(any(startsWith(colnames(rowData(plain)), "MSSVAE_W_")))
    expect_identical(reducedDimNames(plain), character())
    expect_identical(plain$MSSVAE_group, x$MSSVAE_group)  # the annotation stays
    skip_without_python()
    fit <- fit_fast(make_sce())
    res <- readMSSVAEResults(fit)
    groups <- as.character(res$metadata$groups)
    k <- cumsum(c(0L, as.integer(res$metadata$n_specific)))
    back <- storeMSSVAEResults(dropMSSVAEResults(fit), list(groups = groups,
        factor_names = c(list(shared = colnames(res$W_shared)),
            lapply(stats::setNames(groups, groups), function(g)
                colnames(rowData(fit)[[paste0("MSSVAE_W_", g)]]))),
        W_shared = res$W_shared,
        W_specific = lapply(stats::setNames(seq_along(groups), groups),
            function(m) res$W_specific[, k[m] + seq_len(k[m + 1] - k[m]),
                drop = FALSE]),
        Z_shared = res$Z_shared, Z_specific = res$Z_specific,
        sample_groups = as.character(fit$MSSVAE_group),
        metadata = res$metadata), assay.type = "counts")
    for (col in grep("^MSSVAE_W_", colnames(rowData(fit)), value = TRUE)) {
        expect_equal(rowData(back)[[col]], rowData(fit)[[col]])
    }
    expect_equal(reducedDim(back, "MSSVAE_shared"),
        reducedDim(fit, "MSSVAE_shared"))
    expect_identical(back$MSSVAE_group, fit$MSSVAE_group)
})
