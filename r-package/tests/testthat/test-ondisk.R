# An HDF5-backed assay (HDF5Array) reaches the core as the dataset on disk,
# whose rows it reads in blocks: never as a dense matrix in R or in Python.

test_that("an HDF5Array assay is handed over on disk and fits as in memory", {
    skip_without_python()
    skip_if_not_installed("HDF5Array")
    sce <- make_sce()
    assay(sce, "counts") <- assay(sce, "counts") * 1.0
    h5 <- sce
    assay(h5, "counts", withDimnames = FALSE) <- HDF5Array::writeHDF5Array(
        assay(sce, "counts"), filepath = tempfile(fileext = ".h5"),
        name = "counts")
    src <- mssvae:::.as_bridge_matrix(assay(h5, "counts"))
    expect_type(src, "list")
    expect_identical(src$h5_name, "/counts")
    expect_true(file.exists(src$h5_path))
    # a delayed operation on top: a temporary copy on disk, still not dense
    sub <- mssvae:::.as_bridge_matrix(assay(h5, "counts")[, 1:10])
    expect_type(sub, "list")
    expect_false(identical(sub$h5_path, src$h5_path))

    a <- fit_fast(sce)
    b <- fit_fast(h5)
    expect_identical(rowData(b)$MSSVAE_W_shared, rowData(a)$MSSVAE_W_shared)
    expect_equal(reducedDim(b, "MSSVAE_shared"), reducedDim(a, "MSSVAE_shared"),
        tolerance = 1e-5)
})

test_that("rankings read an HDF5Array assay on disk too", {
    skip_without_python()
    skip_if_not_installed("HDF5Array")
    sce <- make_sce()
    assay(sce, "counts") <- assay(sce, "counts") * 1.0
    dir <- tempfile()
    fit <- fit_fast(sce, model.dir = dir)
    h5 <- fit
    assay(h5, "counts", withDimnames = FALSE) <- HDF5Array::writeHDF5Array(
        assay(fit, "counts"), filepath = tempfile(fileext = ".h5"))
    expect_equal(rankGroupGenes(h5, "A", threads = 1L),
        rankGroupGenes(fit, "A", threads = 1L), tolerance = 1e-5)
})
