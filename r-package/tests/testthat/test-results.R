# Reading results back: hand-made loadings, so every number can be checked by eye.

test_that("factorGeneSets takes |W| > threshold, ordered by |W|, in block order", {
    x <- fake_fit()
    sets <- factorGeneSets(x)
    expect_identical(names(sets), c("shared_1", "A_1", "C_1"))
    expect_identical(sets$shared_1, c("gene01", "gene02", "gene03"))
    expect_identical(sets$A_1, c("gene06", "gene05"))
    expect_identical(sets$C_1, "gene01")
    expect_identical(factorGeneSets(x, threshold = 0.3)$shared_1, c("gene01", "gene02", "gene03", "gene04"))
    expect_identical(names(factorGeneSets(x, which = "shared")), "shared_1")
    expect_identical(names(factorGeneSets(x, which = c("A", "C"))), c("A_1", "C_1"))
    expect_identical(names(factorGeneSets(x, min.size = 2)), c("shared_1", "A_1"))
    expect_length(factorGeneSets(x, which = "B"), 0L)
})

test_that("factorGeneSets can return another identifier from rowData", {
    x <- fake_fit()
    rowData(x)$entrez <- as.character(1000 + seq_len(nrow(x)))
    expect_identical(factorGeneSets(x, id.column = "entrez")$A_1, c("1006", "1005"))
    expect_error(factorGeneSets(x, id.column = "ENSEMBL"), "id.column \"ENSEMBL\" is not a rowData column; available: entrez")
})

test_that("loadingsTable is long, complete and typed", {
    x <- fake_fit()
    lt <- loadingsTable(x)
    expect_identical(names(lt), c("gene", "factor", "block", "weight"))
    expect_identical(nrow(lt), 10L * 6L)
    expect_identical(levels(lt$factor), c("shared_1", "shared_2", "A_1", "A_2", "B_1", "C_1"))
    expect_identical(levels(lt$block), c("shared", "A", "B", "C"))
    expect_identical(lt$weight[lt$gene == "gene06" & lt$factor == "A_1"], 1.2)
    active <- loadingsTable(x, active.only = TRUE)
    expect_identical(levels(droplevels(active$factor)), c("shared_1", "A_1", "C_1"))
    expect_identical(unique(as.character(loadingsTable(x, which = "A")$block)), "A")
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
    fit <- fit_fast(make_sce(), epochs = 3L)
    sets <- factorGeneSets(fit, threshold = 0)
    expect_type(sets, "list")
    expect_true(all(vapply(sets, is.character, logical(1))))
    expect_true(all(grepl("^(shared|A|B|C)_[0-9]+$", names(sets))))
    lt <- loadingsTable(fit)
    expect_identical(nrow(lt), nrow(fit) * (3L + 3L * 2L))
})
