# A summary of a fit, from metadata(x)$MSSVAE and the loadings: pure R.

#' Summarise a fit
#'
#' What a fit holds, in a few lines: the model, the groups and their sizes, the
#' factors per block and how many are active (some \eqn{|W| >} `threshold`,
#' by default the fit's gene-set threshold, see [factorGeneSets()]), the
#' training (epochs, final loss, time), covariates, folded programs, warnings
#' and the versions used. `print()` shows it.
#'
#' @param x A SummarizedExperiment returned by [fitMSSVAE()].
#' @param threshold \eqn{|W|} above which a factor counts as active; `NULL`:
#'   the fit's gene-set threshold, `metadata(x)$MSSVAE$gene_set_threshold`.
#' @return An object of class `MSSVAEsummary`: a list with `likelihood`,
#'   `group_key`, `n_features` (fitted), `n_samples`, `blocks` (a data.frame:
#'   `block`, `samples`, `factors`, `active`, `largest_set`), `epochs`,
#'   `final_loss`, `seconds`, `covariates`, `folded`, `warnings`, `versions` and
#'   `threshold`; after a fit with `starts` of 2 or more, `blocks` also counts
#'   the `stable` active factors (held by at least half of the other starts)
#'   and `starts` is a data.frame of every start's `seed`, final loss
#'   (`objective`) and whether it was `chosen` (`NULL` for one start).
#' @examples
#' if (mssvaeAvailable()) {
#'     sce <- mssvaeExampleData()[seq_len(200), ]
#'     sce <- fitMSSVAE(sce, group = "lineage", n.shared = 4, n.specific = 2,
#'         hidden = c(8, 4), epochs = 3, threads = 1)
#'     summarizeMSSVAE(sce)
#' }
#' @export
summarizeMSSVAE <- function(x, threshold = NULL) {
    blocks <- .loading_blocks(x)
    threshold <- .fit_threshold(x, threshold)
    md <- S4Vectors::metadata(x)$MSSVAE
    h <- md$history
    sizes <- table(SummarizedExperiment::colData(x)$MSSVAE_group)
    counts <- lapply(blocks, function(W) colSums(.above(W, threshold),
        na.rm = TRUE))
    tab <- data.frame(block = names(blocks),
        samples = c(ncol(x), as.integer(sizes[names(blocks)[-1]])),
        factors = vapply(blocks, ncol, integer(1)),
        active = vapply(counts, function(n) sum(n > 0L), integer(1)),
        largest_set = vapply(counts, function(n) {
            if (length(n)) as.integer(max(n)) else 0L
        }, integer(1)), row.names = NULL, stringsAsFactors = FALSE)
    stability <- .stability(x)
    if (!is.null(stability)) {
        tab$stable <- vapply(counts, function(n) {
            sum(n > 0L & stability[names(n)] >= 0.5)
        }, integer(1))
    }
    fitted <- rowSums(!is.na(do.call(cbind, blocks))) > 0L
    structure(list(
        likelihood = md$settings$likelihood,
        group_key = md$group_key,
        n_features = sum(fitted),
        n_samples = ncol(x),
        blocks = tab,
        epochs = if (is.null(h)) NA_integer_ else nrow(h),
        final_loss = if (is.null(h$loss)) NA_real_ else
            utils::tail(h$loss, 1L),
        seconds = if (is.null(h$seconds)) NA_real_ else sum(h$seconds),
        covariates = as.character(unlist(md$covariates$names)),
        folded = as.character(unlist(md$folded)),
        warnings = as.character(unlist(md$warnings)),
        versions = md$versions,
        threshold = threshold,
        starts = .starts_table(md$starts)
    ), class = "MSSVAEsummary")
}

.starts_table <- function(starts) {
    if (is.null(starts)) {
        return(NULL)
    }
    seed <- as.integer(starts$seed)
    data.frame(seed = seed, objective = as.numeric(starts$objective),
        chosen = seed == as.integer(starts$chosen))
}

#' @rdname summarizeMSSVAE
#' @param ... Not used.
#' @export
print.MSSVAEsummary <- function(x, ...) {
    cat(sprintf("MSSVAE fit (%s likelihood) of %d features x %d samples",
        if (is.null(x$likelihood)) "unknown" else x$likelihood,
        x$n_features, x$n_samples),
        if (!is.null(x$group_key)) sprintf("; groups from \"%s\"",
            x$group_key), "\n", sep = "")
    cat(sprintf("training: %s epochs, final loss %.4g, %.1f s\n",
        x$epochs, x$final_loss, x$seconds))
    cat(sprintf("factors active at %s:\n", .describe_threshold(x$threshold)))
    tab <- x$blocks
    if (!sum(tab$active)) {
        cat(.sprintf(c("no factor is active: every gene set is empty. Try a ",
            "smaller sparsity.weight, more epochs, fewer genes, or for the ",
            "Gaussian model lipschitz.decoder = TRUE\n")))
    }
    names(tab) <- sub("largest_set", "largest set", names(tab), fixed = TRUE)
    print(tab, row.names = FALSE)
    if (!is.null(x$starts)) {
        s <- x$starts
        cat(.sprintf(c("starts: %d (seeds %s); kept seed %d, the lowest final ",
            "loss; stable: active factors held by at least half of the ",
            "other starts\n"), nrow(s), paste(s$seed, collapse = ", "),
            s$seed[s$chosen][1]))
    }
    if (length(x$covariates)) {
        cat("covariates:", paste(x$covariates, collapse = ", "), "\n")
    }
    if (length(x$folded)) {
        cat("folded into the shared block:", paste(x$folded,
            collapse = "; "), "\n")
    }
    if (length(x$warnings)) {
        cat("warnings of the fit:\n", paste0("  ", x$warnings,
            collapse = "\n"), "\n", sep = "")
    }
    v <- x$versions
    if (length(v)) {
        cat(sprintf("versions: mssvae %s, torch %s, R %s\n",
            .or_na(v$mssvae), .or_na(v$torch), .or_na(v$R)))
    }
    invisible(x)
}

.or_na <- function(v) if (is.null(v)) "NA" else as.character(v)
