#' Rank genes and factors by a group's specific signal
#'
#' `rankGroupGenes()` ranks the genes by how much a group's own factors matter
#' for them: for the samples of `group`, the log-likelihood ratio of each gene's
#' data under the model's full decoding versus the shared-only decoding (the
#' group's factors set to 0), at the posterior means of the latents; the "Bayes
#' factor" of multiGroupVI (Weinberger et al. 2022, Eq. 12), with the fitted
#' model's own likelihood (negative binomial or Gaussian). A gene that the
#' shared factors explain alone scores about 0.
#'
#' `rankGroupFactors()` scores each of the group's factors by the log-likelihood
#' lost when only that factor is set to 0, beside its genes by \eqn{|W|} (the
#' sparse loadings) and by their per-gene ratio: which programs, not only which
#' genes, belong to the group.
#'
#' Both run the fitted networks, so the fit must have been saved: call
#' [fitMSSVAE()] with `model.dir =`.
#'
#' @param x A SummarizedExperiment returned by [fitMSSVAE()] with `model.dir`
#'   set.
#' @param group The group whose genes (or factors) to rank, one of
#'   `levels(x$MSSVAE_group)`.
#' @param model.dir The directory of the saved model; default
#'   `metadata(x)$MSSVAE$model_dir`.
#' @param assay.type The assay the model was fitted on; default the one of the
#'   fit.
#' @param threads CPU threads for PyTorch; `NULL` for its default.
#' @param covariates For a fit with covariates: the same covariates, as
#'   `colData` column names or a data.frame with one row per sample; default the
#'   `colData` columns of the fit. Both decodings keep each sample's covariate
#'   offset, so the ratio isolates the group's factors.
#' @param threshold For `rankGroupFactors()`: \eqn{|W|} above which a gene loads
#'   on a factor; `NULL`: the fit's gene-set threshold (see [factorGeneSets()];
#'   the paper's section 5 uses 0.5).
#' @param n.top For `rankGroupFactors()`: genes listed per factor.
#' @return `rankGroupGenes()`: a data.frame with one row per fitted gene, sorted
#'   by `score`: `gene`, `score` (the log-likelihood ratio summed over the
#'   group's samples), `mean_log_lr` (per sample), `frac_positive` (share of the
#'   group's samples with a positive ratio), `mean_full` and `mean_shared` (the
#'   decoded mean, averaged over the samples, under the two decodings) and
#'   `log2_fold_change` (their log2 ratio; `NA` for the Gaussian model).
#'   `rankGroupFactors()`: a data.frame with one row per factor of the group,
#'   sorted by `score`: `factor`, `score`, `mean_log_lr`, `n_genes` (\eqn{|W| >}
#'   `threshold`), `max_abs_w`, `eta`, `top_genes_w` (by \eqn{|W|}) and
#'   `top_genes_lr` (by per-gene ratio), comma-separated.
#' @references Weinberger, E., Lopez, R., Hütter, J.-C. and Regev, A.
#'   Disentangling shared and group-specific variations in single-cell
#'   transcriptomics data with multiGroupVI (2022).
#' @seealso [activeFactors()] for the factors by \eqn{|W|} alone.
#' @examples
#' if (mssvaeAvailable()) {
#'     sce <- mssvaeExampleData()[seq_len(200), ]
#'     sce <- fitMSSVAE(sce, group = "lineage", n.shared = 4, n.specific = 2,
#'         hidden = c(8, 4), epochs = 3, threads = 1,
#'         model.dir = file.path(tempdir(), "mssvae_model"))
#'     head(rankGroupGenes(sce, "B cell"), 5)
#'     rankGroupFactors(sce, "B cell", n.top = 3)
#' }
#' @export
rankGroupGenes <- function(x, group, model.dir = NULL, assay.type = NULL,
    threads = getOption("mssvae.threads"), covariates = NULL) {
    .rank(x, group, "gene", model.dir, assay.type, threads,
        covariates = covariates)
}

#' @rdname rankGroupGenes
#' @export
rankGroupFactors <- function(x, group, threshold = NULL, n.top = 10L,
    model.dir = NULL, assay.type = NULL, threads = getOption("mssvae.threads"),
    covariates = NULL) {
    .rank(x, group, "factor", model.dir, assay.type, threads,
        threshold = threshold, n.top = n.top, covariates = covariates)
}

.rank <- function(x, group, level, model.dir, assay.type, threads,
    threshold = NULL, n.top = 10L, covariates = NULL) {
    blocks <- .loading_blocks(x) # stops unless x holds MSSVAE results
    .fit_threshold(x, threshold) # checks it; NULL: the core's per-factor rule
    group <- .rank_group(group, names(blocks)[-1])
    md <- S4Vectors::metadata(x)$MSSVAE
    model.dir <- .rank_model_dir(model.dir, md)
    if (is.null(assay.type)) {
        assay.type <- if (is.null(md$assay_type)) "counts" else md$assay_type
    }
    rows <- if (is.null(md$subset_row)) seq_len(nrow(x)) else md$subset_row
    mat <- .get_assay(x, assay.type)
    if (length(rows) != nrow(x)) {
        mat <- mat[rows, , drop = FALSE]
    }
    labels <- SummarizedExperiment::colData(x)[["MSSVAE_group"]]
    if (is.null(labels)) {
        stop("colData(x)$MSSVAE_group is missing; x must be returned by ",
            "fitMSSVAE()", call. = FALSE)
    }
    if (is.null(covariates) && !is.null(md$covariates)) {
        # the colData columns of the fit
        covariates <- as.character(unlist(md$covariates$names))
    }
    cov <- .resolve_covariates(x, covariates)
    res <- .worker_rank(.as_bridge_matrix(mat), as.character(labels),
        .feature_names(x)[rows], group, normalizePath(model.dir), level,
        threshold = threshold,
        n.top = .count_or_null(n.top, "n.top"),
        threads = .count_or_null(threads, "threads"),
        covariates = cov$values, covariate.levels = cov$levels)
    .rank_table(res, level)
}

.rank_group <- function(group, groups) {
    if (missing(group) || !is.character(group) && !is.factor(group) ||
        length(group) != 1L) {
        stop("give `group`: one of the fitted groups: ", .collapse(groups),
            call. = FALSE)
    }
    group <- as.character(group)
    if (!group %in% groups) {
        stop(sprintf("group \"%s\" is not a group of this fit; groups: %s",
            group, .collapse(groups)), call. = FALSE)
    }
    group
}

.rank_model_dir <- function(model.dir, md) {
    if (is.null(model.dir)) {
        model.dir <- md$model_dir
    }
    if (is.null(model.dir) || !dir.exists(model.dir)) {
        what <- if (is.null(model.dir)) {
            "x has no saved model (metadata(x)$MSSVAE$model_dir is NULL)"
        } else {
            sprintf("model.dir \"%s\" does not exist", model.dir)
        }
        stop(.sprintf(c("%s; the ranking runs the fitted networks: refit ",
            "with fitMSSVAE(..., model.dir = \"dir\") or give model.dir"),
            what), call. = FALSE)
    }
    model.dir
}

.rank_table <- function(res, level) {
    out <- as.data.frame(lapply(res, function(v) {
        if (is.list(v)) as.character(unlist(v)) else as.vector(v)
    }), stringsAsFactors = FALSE)
    cols <- if (level == "gene") .GENE_COLUMNS else .FACTOR_COLUMNS
    out <- out[, cols, drop = FALSE]
    if (level == "factor") {
        out$n_genes <- as.integer(out$n_genes)
    }
    if (level == "gene") {
        out$log2_fold_change[is.nan(out$log2_fold_change)] <- NA_real_
    }
    rownames(out) <- NULL
    out
}
