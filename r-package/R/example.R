#' The shipped PBMC example
#'
#' 700 annotated peripheral blood mononuclear cells (10x Genomics; Zheng et
#' al. 2017) and 765 genes, as shipped with the Python package
#' (`mssvae.io.example.example_data()`), built as a SingleCellExperiment: raw counts
#' in assay `counts` (a sparse `dgCMatrix`), and in `colData` the sorted
#' `cell_type` (10 types) and its `lineage` (T cell, NK, B cell, myeloid,
#' progenitor). The provenance is in `metadata(sce)$provenance`.
#'
#' @return A SingleCellExperiment.
#' @examples
#' if (mssvaeAvailable()) {
#'     sce <- mssvaeExampleData()
#'     table(sce$lineage)
#' }
#' @export
mssvaeExampleData <- function() {
    ex <- .worker_example()
    cd <- S4Vectors::DataFrame(ex$obs, row.names = colnames(ex$counts),
        check.names = FALSE)
    SingleCellExperiment::SingleCellExperiment(
        assays = list(counts = ex$counts), colData = cd,
        metadata = list(provenance = ex$provenance))
}
