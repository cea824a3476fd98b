# The layout of MSSVAE results in a SummarizedExperiment / SingleCellExperiment
# (the README's results contract), written, read and removed here only: by
# fitMSSVAE(), and by the Python core's read_sce() / write_sce() through rpy2,
# which call the exported functions below.

#' MSSVAE results in a SummarizedExperiment: store, read, remove
#'
#' The layout in which [fitMSSVAE()] keeps its results (see its Value
#' section): loadings in `rowData(x)`, latents in `reducedDims(x)` (in
#' `colData(x)` for a plain SummarizedExperiment), the groups in
#' `colData(x)$MSSVAE_group` and the rest in `metadata(x)$MSSVAE`. These
#' functions are the one definition of that layout: `fitMSSVAE()` stores with
#' `storeMSSVAEResults()`, and the Python package's `mssvae.write_sce()` and
#' `mssvae.read_sce()` (which turn an AnnData into a SingleCellExperiment
#' `.rds` file and back) call all three.
#'
#' @param x A [SummarizedExperiment::SummarizedExperiment] or
#'   [SingleCellExperiment::SingleCellExperiment].
#' @param results The results of the Python core as a list: `groups`,
#'   `factor_names` (a list: `shared`, then each group), `W_shared` (fitted
#'   features x \eqn{K_S}), `W_specific` (a list by group of fitted features x
#'   \eqn{K_m}), `Z_shared`, `Z_specific` (samples x factors),
#'   `sample_groups` (one label per sample, or `NULL`) and `metadata`
#'   (`.uns["mssvae"]` of the Python results contract); from a fit also
#'   `model_dir` and `warnings`.
#' @param rows The rows of `x` that were fitted (integer indices); the others
#'   get `NA` loadings. Default: all.
#' @param assay.type The assay that was fitted, recorded as
#'   `metadata(x)$MSSVAE$assay_type` (`NULL`: none).
#' @return `storeMSSVAEResults()`: `x` with the results (results already there
#'   are replaced). `readMSSVAEResults()`: the results in `x` as a list of
#'   arrays, `W_shared` (features x \eqn{K_S}), `W_specific` (the groups'
#'   loadings side by side), `Z_shared`, `Z_specific` (`NULL` without
#'   latents) and `metadata`; `NULL` when `x` holds none.
#'   `dropMSSVAEResults()`: `x` without the loadings, latents and metadata
#'   (`colData(x)$MSSVAE_group` stays: it annotates the samples).
#' @seealso [fitMSSVAE()], whose Value section describes the layout.
#' @examples
#' if (mssvaeAvailable()) {
#'     sce <- mssvaeExampleData()[seq_len(100), ]
#'     sce <- fitMSSVAE(sce, group = "lineage", n.shared = 3, n.specific = 1,
#'         hidden = c(8, 4), epochs = 2, threads = 1)
#'     res <- readMSSVAEResults(sce)
#'     dim(res$W_shared)
#'     plain <- dropMSSVAEResults(sce)
#'     is.null(readMSSVAEResults(plain))
#' }
#' @name MSSVAEResults
NULL

# A features x k matrix on all rows of x: the fitted `rows` filled in, the
# others `fill`.
.full_rows <- function(x, rows, m, cols, fill = NA_real_) {
    m <- as.matrix(m)
    out <- matrix(fill, nrow(x), ncol(m), dimnames = list(rownames(x), cols))
    out[rows, ] <- m
    out
}

#' @rdname MSSVAEResults
#' @export
storeMSSVAEResults <- function(x, results, rows = seq_len(nrow(x)),
    assay.type = NULL) {
    if (!methods::is(x, "SummarizedExperiment")) {
        stop("x must be a SummarizedExperiment or SingleCellExperiment; got ",
            "an object of class ", class(x)[1], call. = FALSE)
    }
    x <- .store_loadings(x, results, rows)
    x <- .store_latents(x, results)
    S4Vectors::metadata(x)$MSSVAE <- .fit_metadata(x, results, rows,
        assay.type)
    x
}

.store_loadings <- function(x, res, rows) {
    fn <- res$factor_names
    rd <- SummarizedExperiment::rowData(x)
    rd <- rd[, !startsWith(colnames(rd), "MSSVAE_"), drop = FALSE]
    rd[["MSSVAE_W_shared"]] <- .full_rows(x, rows, res$W_shared,
        as.character(fn$shared))
    for (g in as.character(res$groups)) {
        rd[[paste0("MSSVAE_W_", g)]] <- .full_rows(x, rows,
            res$W_specific[[g]], as.character(fn[[g]]))
    }
    SummarizedExperiment::rowData(x) <- rd
    x
}

.store_latents <- function(x, res) {
    zs <- as.matrix(res$Z_shared)
    dimnames(zs) <- list(colnames(x), as.character(res$factor_names$shared))
    zm <- as.matrix(res$Z_specific)
    dimnames(zm) <- list(colnames(x), if (ncol(zm)) {
        paste0("specific_", seq_len(ncol(zm)))
    } else {
        character()
    })
    cd <- SummarizedExperiment::colData(x)
    cd <- cd[, !startsWith(colnames(cd), "MSSVAE_"), drop = FALSE]
    if (!is.null(res$sample_groups)) {
        cd[["MSSVAE_group"]] <- factor(as.character(res$sample_groups),
            levels = as.character(res$groups))
    }
    if (methods::is(x, "SingleCellExperiment")) {
        SummarizedExperiment::colData(x) <- cd
        SingleCellExperiment::reducedDim(x, "MSSVAE_shared") <- zs
        SingleCellExperiment::reducedDim(x, "MSSVAE_specific") <- zm
    } else {
        cd[["MSSVAE_shared"]] <- zs
        cd[["MSSVAE_specific"]] <- zm
        SummarizedExperiment::colData(x) <- cd
    }
    x
}

.fit_metadata <- function(x, res, rows, assay.type) {
    G <- nrow(x)
    fn <- res$factor_names
    groups <- as.character(res$groups)
    md <- .tidy_metadata(res$metadata)
    md$eta_shared <- stats::setNames(as.numeric(md$eta_shared),
        as.character(fn$shared))
    md$eta_specific <- stats::setNames(as.numeric(md$eta_specific),
        unlist(fn[groups], use.names = FALSE))
    md$n_specific <- stats::setNames(as.integer(md$n_specific), groups)
    for (col in intersect(.STABILITY_COLUMNS, names(md$stability))) {
        md$stability[[col]] <- stats::setNames(as.numeric(md$stability[[col]]),
            unlist(fn, use.names = FALSE))
    }
    if (!is.null(md$stability$jaccard)) {
        # factors x starts; the starts named by their seeds
        md$stability$jaccard <- matrix(as.numeric(md$stability$jaccard),
            nrow = length(unlist(fn)), dimnames = list(unlist(fn,
            use.names = FALSE), as.character(md$starts$seed)))
    }
    md$p_star <- .full_rows(x, rows, md$p_star, unlist(fn, use.names = FALSE))
    if (!is.null(md$covariate_effects)) {
        md$covariate_effects <- .full_rows(x, rows, md$covariate_effects,
            as.character(unlist(md$covariates$columns)))
    }
    used <- logical(G)
    used[rows] <- as.logical(md$features_used)
    md$features_used <- stats::setNames(used, rownames(x))
    for (noise in intersect(c("phi", "sigma2"), names(md))) {
        v <- rep(NA_real_, G)
        v[rows] <- as.numeric(md[[noise]])
        md[[noise]] <- stats::setNames(v, rownames(x))
    }
    md$versions$mssvae_r <- .r_version()
    md$versions$R <- paste(R.version$major, R.version$minor, sep = ".")
    md$assay_type <- if (is.null(assay.type)) NULL else as.character(assay.type)
    md$subset_row <- if (length(rows) == G) NULL else rows
    md$model_dir <- res$model_dir
    md$warnings <- as.character(unlist(res$warnings))
    md
}

#' @rdname MSSVAEResults
#' @export
readMSSVAEResults <- function(x) {
    rd <- SummarizedExperiment::rowData(x)
    md <- S4Vectors::metadata(x)$MSSVAE
    if (!"MSSVAE_W_shared" %in% colnames(rd) || is.null(md)) {
        return(NULL)
    }
    groups <- as.character(md$groups)
    spec <- lapply(groups, function(g) as.matrix(rd[[paste0("MSSVAE_W_", g)]]))
    latent <- function(type) {
        name <- paste0("MSSVAE_", type)
        cd <- SummarizedExperiment::colData(x)
        if (methods::is(x, "SingleCellExperiment") &&
            name %in% SingleCellExperiment::reducedDimNames(x)) {
            return(as.matrix(SingleCellExperiment::reducedDim(x, name)))
        }
        if (name %in% colnames(cd)) as.matrix(cd[[name]]) else NULL
    }
    list(W_shared = as.matrix(rd$MSSVAE_W_shared),
        W_specific = if (length(spec)) do.call(cbind, spec) else
            matrix(0, nrow(x), 0),
        Z_shared = latent("shared"), Z_specific = latent("specific"),
        metadata = md)
}

#' @rdname MSSVAEResults
#' @export
dropMSSVAEResults <- function(x) {
    rd <- SummarizedExperiment::rowData(x)
    SummarizedExperiment::rowData(x) <- rd[, !startsWith(colnames(rd),
        "MSSVAE_W_"), drop = FALSE]
    cd <- SummarizedExperiment::colData(x)
    SummarizedExperiment::colData(x) <- cd[, !colnames(cd) %in%
        c("MSSVAE_shared", "MSSVAE_specific"), drop = FALSE]
    if (methods::is(x, "SingleCellExperiment")) {
        keep <- setdiff(SingleCellExperiment::reducedDimNames(x),
            c("MSSVAE_shared", "MSSVAE_specific"))
        SingleCellExperiment::reducedDims(x) <-
            SingleCellExperiment::reducedDims(x)[keep]
    }
    S4Vectors::metadata(x)$MSSVAE <- NULL
    x
}
