#' Preprocess counts as in the paper (App. C.4)
#'
#' The paper's four preprocessing steps, run by the same Python code as
#' `mssvae.pp.prepare()` (and `mssvae prepare` on the command line), so both
#' front doors keep the same genes and samples: (1) remove samples whose total
#' count is below `min.total`; (2) keep genes with at least `min.counts` counts
#' over all samples; (3) keep genes with counts-per-million above `min.cpm` in
#' at least a fraction `min.frac` of the samples; (4) keep the `n.top` genes
#' with the largest variance of analytic Pearson residuals of a
#' negative-binomial offset model (Lause, Berens and Kobak 2021; scanpy's
#' `flavor = "pearson_residuals"`).
#'
#' @param x A SummarizedExperiment or SingleCellExperiment with raw counts.
#' @param assay.type The assay holding the raw counts.
#' @param min.total Step 1 threshold: the paper's \eqn{e^{12.5}} suits bulk
#'   RNA-seq; lower it for single cells.
#' @param min.counts Step 2 threshold.
#' @param min.cpm,min.frac Step 3: CPM threshold (strict) and fraction of
#'   samples.
#' @param n.top Step 4: number of genes to keep.
#' @param theta Step 4: negative-binomial overdispersion.
#' @param clip Step 4: clip residuals to `[-clip, clip]`; `NULL` for
#'   \eqn{\sqrt{N}}.
#' @param verbose Print the report of what each step removed.
#' @return `x` subset to the kept samples and genes (in their original order),
#'   with `rowData(x)$pearson_residual_variance` and
#'   `rowData(x)$pearson_residual_rank` (0 = most variable) and the report in
#'   `metadata(x)$MSSVAE_prepare` (per step: `rule`, `n_before`, `n_removed`,
#'   `n_kept`, `removed` names, `params`; and `text`, the printed report).
#' @examples
#' if (mssvaeAvailable()) {
#'     sce <- prepareMSSVAE(mssvaeExampleData(), min.total = 400, n.top = 300)
#'     dim(sce)
#' }
#' @export
prepareMSSVAE <- function(x, assay.type = "counts", min.total = exp(12.5),
    min.counts = 25, min.cpm = 1, min.frac = 0.2, n.top = 5000L, theta = 100,
    clip = NULL, verbose = TRUE) {
    if (!methods::is(x, "SummarizedExperiment")) {
        stop("x must be a SummarizedExperiment or SingleCellExperiment",
            call. = FALSE)
    }
    mat <- .as_bridge_matrix(.get_assay(x, assay.type), on.disk = FALSE)
    params <- list(min_total = .number_or_null(min.total, "min.total"),
        min_counts = .number_or_null(min.counts, "min.counts"),
        min_cpm = .number_or_null(min.cpm, "min.cpm"),
        min_frac = .number_or_null(min.frac, "min.frac"),
        n_top = .count_or_null(n.top, "n.top"),
        theta = .number_or_null(theta, "theta"),
        clip = .number_or_null(clip, "clip"))
    res <- .worker_prepare(mat, .feature_names(x), .sample_names(x), params)
    out <- x[res$keep_features, res$keep_samples]
    rd <- SummarizedExperiment::rowData(out)
    rd$pearson_residual_variance <- res$pearson_residual_variance
    rd$pearson_residual_rank <- res$pearson_residual_rank
    SummarizedExperiment::rowData(out) <- rd
    report <- res$report
    report$text <- res$report_text
    S4Vectors::metadata(out)$MSSVAE_prepare <- report
    if (verbose) {
        message(res$report_text)
    }
    out
}
