test_that("mssvaeExampleData builds the PBMC example as a sparse SCE", {
    skip_without_python()
    sce <- mssvaeExampleData()
    expect_s4_class(sce, "SingleCellExperiment")
    expect_identical(dim(sce), c(765L, 700L))
    expect_s4_class(counts(sce), "dgCMatrix")
    expect_true(all(counts(sce)@x == round(counts(sce)@x)))
    expect_identical(levels(sce$lineage),
        c("T cell", "NK", "B cell", "myeloid", "progenitor"))
    expect_identical(as.vector(table(sce$lineage)[c("myeloid", "progenitor")]),
        c(369L, 13L))
    expect_identical(nlevels(sce$cell_type), 10L)
    expect_true("CD3E" %in% rownames(sce))
    expect_match(metadata(sce)$provenance$citation, "Zheng")
})
