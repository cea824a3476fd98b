# Reading the results back from rowData/metadata: pure R, no Python.

.no_results <- function() {
    stop("x holds no MSSVAE results (rowData(x)$MSSVAE_W_shared); run ",
        "fitMSSVAE(x, group = ...) first", call. = FALSE)
}

# The loading blocks, in order: list(shared = G x K_S, <group> = G x K_m, ...).
.loading_blocks <- function(x) {
    if (!methods::is(x, "SummarizedExperiment")) {
        stop("x must be a SummarizedExperiment or SingleCellExperiment ",
            "returned by fitMSSVAE()", call. = FALSE)
    }
    rd <- SummarizedExperiment::rowData(x)
    if (!"MSSVAE_W_shared" %in% colnames(rd)) {
        .no_results()
    }
    md <- S4Vectors::metadata(x)$MSSVAE
    cols <- colnames(rd)[startsWith(colnames(rd), "MSSVAE_W_")]
    groups <- if (!is.null(md$groups)) as.character(md$groups) else
        setdiff(sub("^MSSVAE_W_", "", cols), "shared")
    blocks <- c("shared", groups)
    out <- lapply(blocks, function(b) {
        m <- as.matrix(rd[[paste0("MSSVAE_W_", b)]])
        rownames(m) <- .feature_names(x)
        m
    })
    stats::setNames(out, blocks)
}

.select_blocks <- function(blocks, which) {
    if (identical(which, "all")) {
        return(blocks)
    }
    bad <- setdiff(which, names(blocks))
    if (length(bad)) {
        stop(.sprintf(c("which = %s is not \"all\", \"shared\" or a ",
            "group; groups: %s"), paste(sprintf("\"%s\"", bad),
            collapse = ", "), .collapse(names(blocks)[-1])), call. = FALSE)
    }
    blocks[which]
}

.gene_ids <- function(x, id.column) {
    if (is.null(id.column)) {
        return(.feature_names(x))
    }
    rd <- SummarizedExperiment::rowData(x)
    if (!id.column %in% colnames(rd)) {
        own <- colnames(rd)[!startsWith(colnames(rd), "MSSVAE_")]
        stop(sprintf("id.column \"%s\" is not a rowData column; available: %s",
            id.column, .collapse(own)), call. = FALSE)
    }
    as.character(rd[[id.column]])
}

#' Gene sets of the factors
#'
#' The features whose absolute loading exceeds `threshold` in each factor: the
#' gene sets \eqn{C_k = \{g : |W_{gk}| > t\}} of the paper's section 5,
#' ordered by \eqn{|W|}. The list is ready for
#' `clusterProfiler::compareCluster(geneClusters = factorGeneSets(x), fun =
#' "enrichGO", ...)`, `clusterProfiler::enricher()` or [enrichFactorSets()].
#'
#' A warning says when a set holds more than half of the fitted features: the
#' loadings are not sparse yet (the fit was too short for the spike-and-slab
#' prior to switch genes off), and such a set tests nothing. Fit longer, or
#' raise `threshold`.
#'
#' **The thresholds of a fit.** The paper uses \eqn{t = 0.5}, on loadings
#' whose scale is that of their start (1). The scale of each column of \eqn{W}
#' is not identified in the Gaussian model (the decoder can grow while the
#' column shrinks), and on wide data (a few hundred samples, thousands of
#' genes) a fit's largest loadings lie near 0.05-0.15 while its supports are
#' right, so a fixed 0.5 returns nothing. Each fit therefore records one
#' threshold per factor, `metadata(x)$MSSVAE$gene_set_threshold` (in the order
#' of the factors: shared, then each group's): \eqn{\min(0.5, \max(0.03,
#' p_k / 40))}, with \eqn{p_k} the factor's largest \eqn{|W|} (the loadings
#' of one program spread down to a twentieth of the peak). It is the paper's
#' 0.5 for a factor peaking at 20 or more, and never below 0.03, the noise
#' floor of \eqn{W} under which entries are zero in all but name.
#' [summarizeMSSVAE()] prints them. The default `threshold = NULL` uses them
#' (0.5 for results written before they were recorded); a number applies to
#' every factor.
#'
#' @param x A SummarizedExperiment returned by [fitMSSVAE()].
#' @param threshold Keep features with \eqn{|W| >} `threshold`; `NULL`: each
#'   factor's gene-set threshold, recorded by the fit (see Details; the paper
#'   uses 0.5).
#' @param which `"all"`, `"shared"`, or one or more group names.
#' @param min.size Leave out factors with fewer features (inactive factors have
#'   none).
#' @param id.column A `rowData(x)` column holding the identifiers to return
#'   (e.g. Entrez IDs); `NULL` for `rownames(x)`.
#' @param min.stability Leave out factors held by fewer than this fraction of
#'   the other starts of a fit with `starts` of 2 or more
#'   (`metadata(x)$MSSVAE$stability$stability`, see [fitMSSVAE()]); `NULL`:
#'   keep them all.
#' @return A named list of character vectors; names are factor names
#'   (`shared_3`, `<group>_2`), in block order.
#' @examples
#' if (mssvaeAvailable()) {
#'     sce <- mssvaeExampleData()[seq_len(200), ]
#'     sce <- fitMSSVAE(sce, group = "lineage", n.shared = 4, n.specific = 2,
#'         hidden = c(8, 4), epochs = 3, threads = 1)
#'     sets <- factorGeneSets(sce, which = "shared")
#'     lengths(sets)
#' }
#' @export
factorGeneSets <- function(x, threshold = NULL, which = "all", min.size = 1L,
    id.column = NULL, min.stability = NULL) {
    all <- .loading_blocks(x)
    threshold <- .fit_threshold(x, threshold)
    stability <- .stability(x)
    if (!is.null(min.stability)) {
        if (is.null(stability)) {
            stop("min.stability needs the stability of each factor, which a ",
                "fit of several starts records: fit with starts = 5, or ",
                "leave out min.stability", call. = FALSE)
        }
        if (!is.numeric(min.stability) || length(min.stability) != 1L ||
            is.na(min.stability) || min.stability < 0 || min.stability > 1) {
            stop("min.stability is a fraction of the starts: a single number ",
                "in [0, 1]", call. = FALSE)
        }
    }
    blocks <- .select_blocks(all, which)
    ids <- .gene_ids(x, id.column)
    out <- list()
    for (W in blocks) {
        for (k in colnames(W)) {
            w <- abs(W[, k])
            keep <- which(!is.na(w) & w > threshold[[k]])
            stable <- is.null(min.stability) || stability[[k]] >= min.stability
            if (length(keep) >= min.size && length(keep) > 0L && stable) {
                out[[k]] <- ids[keep[order(-w[keep])]]
            }
        }
    }
    fitted <- rowSums(!is.na(do.call(cbind, all))) > 0L
    .warn_dense_sets(out, sum(fitted), threshold)
    out
}

# One of the stability columns of the fit's factors (see .STABILITY_COLUMNS),
# named by factor, or NULL for a fit of one start.
.stability <- function(x, column = "stability") {
    s <- S4Vectors::metadata(x)$MSSVAE$stability
    if (is.null(s)) {
        return(NULL)
    }
    factors <- unlist(lapply(.loading_blocks(x), colnames), use.names = FALSE)
    stats::setNames(as.numeric(s[[column]]), factors)
}

# The |W| of each factor's gene set, named by factor: `threshold` for all if
# given, else the ones the fit recorded (mssvae.io.results.gene_set_threshold),
# else the paper's 0.5.
.fit_threshold <- function(x, threshold = NULL) {
    factors <- unlist(lapply(.loading_blocks(x), colnames), use.names = FALSE)
    if (is.null(threshold)) {
        recorded <- as.numeric(S4Vectors::metadata(x)$MSSVAE$gene_set_threshold)
        threshold <- if (length(recorded) == length(factors)) recorded else 0.5
    } else if (!is.numeric(threshold) || length(threshold) != 1L ||
        is.na(threshold) || threshold < 0) {
        stop("threshold must be NULL or a single number >= 0", call. = FALSE)
    }
    stats::setNames(rep_len(as.numeric(threshold), length(factors)), factors)
}

# Which |W| of the columns of W lie above their factors' thresholds.
.above <- function(W, threshold) {
    sweep(abs(W), 2L, threshold[colnames(W)], ">")
}

# How the thresholds read in a sentence.
.describe_threshold <- function(threshold) {
    if (length(unique(threshold)) <= 1L) {
        t <- if (length(threshold)) threshold[[1]] else 0.5
        return(sprintf("|W| > %g%s", t,
            if (t == 0.5) ", the paper's gene-set threshold" else ""))
    }
    sprintf(paste0("|W| above each factor's threshold (0.5, the paper's, for ",
        "%d of %d factors; a fortieth of the largest |W|, at least 0.03, for ",
        "the others, from %.3g)"), sum(threshold >= 0.5), length(threshold),
        min(threshold))
}

.warn_dense_sets <- function(sets, n.features, threshold) {
    dense <- names(sets)[lengths(sets) > n.features / 2]
    if (length(dense)) {
        warning(.sprintf(c(
            "the gene sets of %s hold more than half of the %d fitted ",
            "features (%s): W is not sparse yet, so these sets say ",
            "little; fit longer (more epochs) or raise `threshold`"),
            .collapse(dense, 10L), n.features, .describe_threshold(threshold)),
            call. = FALSE)
    }
    invisible(dense)
}

#' Loadings as a long table
#'
#' One row per feature and factor, for ggplot2 and dplyr. Features left out of
#' the fit by `subset.row` (`NA` loadings) are dropped.
#'
#' @inheritParams factorGeneSets
#' @param active.only Keep only active factors (some \eqn{|W| >} `threshold`).
#' @return A data.frame with columns `gene`, `factor` (a factor in block order),
#'   `block` (`"shared"` or the group, a factor) and `weight`.
#' @examples
#' if (mssvaeAvailable()) {
#'     sce <- mssvaeExampleData()[seq_len(200), ]
#'     sce <- fitMSSVAE(sce, group = "lineage", n.shared = 4, n.specific = 2,
#'         hidden = c(8, 4), epochs = 3, threads = 1)
#'     head(loadingsTable(sce, which = "shared"))
#' }
#' @export
loadingsTable <- function(x, which = "all", active.only = FALSE,
    threshold = NULL) {
    blocks <- .select_blocks(.loading_blocks(x), which)
    threshold <- .fit_threshold(x, threshold)
    parts <- lapply(names(blocks), function(b) {
        W <- blocks[[b]]
        if (!ncol(W)) {
            return(NULL)
        }
        if (active.only) {
            active <- colSums(.above(W, threshold), na.rm = TRUE) > 0
            W <- W[, active, drop = FALSE]
            if (!ncol(W)) {
                return(NULL)
            }
        }
        data.frame(gene = rep(rownames(W), times = ncol(W)),
            factor = rep(colnames(W), each = nrow(W)),
                block = b, weight = as.vector(W), stringsAsFactors = FALSE)
    })
    df <- do.call(rbind, parts)
    if (is.null(df)) {
        df <- data.frame(gene = character(), factor = character(),
            block = character(), weight = numeric())
    }
    df <- df[!is.na(df$weight), , drop = FALSE]
    df$factor <- factor(df$factor,
        levels = unique(unlist(lapply(blocks, colnames))))
    df$block <- factor(df$block, levels = names(blocks))
    rownames(df) <- NULL
    df
}

#' Active factors and their top genes
#'
#' A summary of the factors with at least one \eqn{|W| >} `threshold`: the
#' shared factors found in every group and each group's own factors. The
#' default threshold is the fit's own (see [factorGeneSets()]).
#'
#' @inheritParams factorGeneSets
#' @param n.top Number of top features to list.
#' @return A data.frame with one row per active factor: `factor`, `block`,
#'   `n_genes` (features above the threshold), `max_abs_w`, `eta` (the estimated
#'   share of features in the factor's slab) and `top_genes` (by \eqn{|W|},
#'   comma-separated); after a fit with `starts` of 2 or more also `stability`
#'   (the fraction of the other starts that hold the factor) and
#'   `median_jaccard` (the median Jaccard index of its gene set with its match
#'   in each other start, 0 where none matched).
#' @examples
#' if (mssvaeAvailable()) {
#'     sce <- mssvaeExampleData()[seq_len(200), ]
#'     sce <- fitMSSVAE(sce, group = "lineage", n.shared = 4, n.specific = 2,
#'         hidden = c(8, 4), epochs = 3, threads = 1)
#'     activeFactors(sce, n.top = 3)
#' }
#' @export
activeFactors <- function(x, threshold = NULL, which = "all", n.top = 10L) {
    blocks <- .select_blocks(.loading_blocks(x), which)
    threshold <- .fit_threshold(x, threshold)
    md <- S4Vectors::metadata(x)$MSSVAE
    eta <- c(md$eta_shared, md$eta_specific)
    rows <- list()
    for (b in names(blocks)) {
        W <- blocks[[b]]
        for (k in colnames(W)) {
            w <- abs(W[, k])
            n <- sum(w > threshold[[k]], na.rm = TRUE)
            if (n == 0L) next
            top <- names(sort(w[!is.na(w)], decreasing = TRUE))
            top <- top[seq_len(min(n, n.top))]
            rows[[k]] <- data.frame(factor = k, block = b, n_genes = n,
                max_abs_w = max(w, na.rm = TRUE),
                eta = if (k %in% names(eta)) unname(eta[k]) else NA_real_,
                top_genes = paste(top, collapse = ", "),
                stringsAsFactors = FALSE)
        }
    }
    out <- do.call(rbind, rows)
    if (is.null(out)) {
        out <- data.frame(factor = character(), block = character(),
            n_genes = integer(), max_abs_w = numeric(),
            eta = numeric(), top_genes = character())
    }
    out <- out[, .ACTIVE_FACTOR_COLUMNS, drop = FALSE]
    rownames(out) <- NULL
    if (!is.null(md$stability)) {
        for (col in .STABILITY_COLUMNS) {
            out[[col]] <- unname(.stability(x, col)[out$factor])
        }
    }
    out
}
