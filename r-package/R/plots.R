# ggplot2 figures of a fit: loadings heatmap, training history, latents.

#' Heatmap of the loadings of the active factors
#'
#' Shared factors and each group's factors side by side, as in the paper's
#' Figure 2: genes in rows (the `max.genes` with the largest \eqn{|W|} among the
#' factors' gene sets, ordered so that each factor's genes form a block), active
#' factors in columns, one panel per block.
#'
#' @inheritParams factorGeneSets
#' @param max.genes Show at most this many genes.
#' @return A ggplot object.
#' @examples
#' if (mssvaeAvailable()) {
#'     sce <- mssvaeExampleData()[seq_len(200), ]
#'     sce <- fitMSSVAE(sce, group = "lineage", n.shared = 4, n.specific = 2,
#'         hidden = c(8, 4), epochs = 3, threads = 1)
#'     plotLoadings(sce, max.genes = 40)
#' }
#' @export
plotLoadings <- function(x, threshold = NULL, which = "all", max.genes = 60L) {
    df <- loadingsTable(x, which = which, active.only = TRUE,
        threshold = threshold)
    threshold <- .fit_threshold(x, threshold)
    if (!nrow(df)) {
        stop(.sprintf(c("no factor has a loading with %s; lower ",
            "`threshold` or fit longer"), .describe_threshold(threshold)),
            call. = FALSE)
    }
    strong <- df[abs(df$weight) > threshold[as.character(df$factor)], ,
        drop = FALSE]
    # each gene's strongest factor, in column order, then |W|: a
    # block-diagonal picture
    strong <- strong[order(strong$gene, -abs(strong$weight)), , drop = FALSE]
    best <- strong[!duplicated(strong$gene), , drop = FALSE]
    best <- best[order(-abs(best$weight)), , drop = FALSE]
    best <- best[seq_len(min(nrow(best), max.genes)), , drop = FALSE]
    best <- best[order(as.integer(best$factor), -abs(best$weight)), ,
        drop = FALSE]
    df <- df[df$gene %in% best$gene, , drop = FALSE]
    df$gene <- factor(df$gene, levels = rev(best$gene))
    df$factor <- droplevels(df$factor)
    lim <- max(abs(df$weight))
    ggplot2::ggplot(df, ggplot2::aes(x = .data$factor, y = .data$gene,
        fill = .data$weight)) +
        ggplot2::geom_tile() +
        ggplot2::facet_grid(. ~ block, scales = "free_x", space = "free_x") +
        ggplot2::scale_fill_gradient2(low = "#2166AC", mid = "white",
            high = "#B2182B", midpoint = 0, limits = c(-lim, lim),
            name = "W") +
        ggplot2::labs(x = NULL, y = NULL, title = "Loadings of the active factors",
            subtitle = .describe_threshold(threshold)) +
        ggplot2::theme_minimal(base_size = 9) +
        ggplot2::theme(axis.text.x = ggplot2::element_text(angle = 90,
            hjust = 1, vjust = 0.5), panel.grid = ggplot2::element_blank(),
            strip.text = ggplot2::element_text(face = "bold"))
}

#' Training history
#'
#' The loss and its components per epoch. Dashed lines mark the epochs where the
#' spike scale \eqn{\lambda_0} is annealed.
#'
#' @param x A SummarizedExperiment returned by [fitMSSVAE()].
#' @param components Columns of `metadata(x)$MSSVAE$history` to show; `NULL` for
#'   the loss and its components that are not zero throughout.
#' @return A ggplot object.
#' @examples
#' if (mssvaeAvailable()) {
#'     sce <- mssvaeExampleData()[seq_len(200), ]
#'     sce <- fitMSSVAE(sce, group = "lineage", n.shared = 4, n.specific = 2,
#'         hidden = c(8, 4), epochs = 3, threads = 1)
#'     plotLoss(sce)
#' }
#' @export
plotLoss <- function(x, components = NULL) {
    h <- S4Vectors::metadata(x)$MSSVAE$history
    if (is.null(h)) {
        .no_results()
    }
    h <- as.data.frame(h)
    avail <- setdiff(names(h), c("epoch", "lambda0", "seconds"))
    if (is.null(components)) {
        # the loss and every component that is not zero throughout (e.g. no
        # noise prior for NB)
        shown <- vapply(avail, function(a) {
            a == "loss" || any(h[[a]] != 0, na.rm = TRUE)
        }, logical(1))
        components <- avail[shown]
    }
    bad <- setdiff(components, avail)
    if (length(bad)) {
        stop(sprintf("unknown components %s; available: %s", .collapse(bad),
            .collapse(avail)), call. = FALSE)
    }
    long <- data.frame(epoch = rep(h$epoch, times = length(components)),
        component = factor(rep(components, each = nrow(h)),
            levels = components),
        value = unlist(h[components], use.names = FALSE))
    changes <- h$epoch[which(diff(h$lambda0) != 0) + 1L]
    p <- ggplot2::ggplot(long, ggplot2::aes(x = .data$epoch, y = .data$value)) +
        ggplot2::geom_line(colour = "grey20") +
        ggplot2::facet_wrap(~component, scales = "free_y") +
        ggplot2::labs(x = "epoch", y = NULL, title = "Training history",
            subtitle = if (length(changes)) {
                "dashed: lambda0 annealing steps"
            }) +
        ggplot2::theme_bw(base_size = 9)
    if (length(changes)) {
        p <- p + ggplot2::geom_vline(xintercept = changes - 0.5,
            linetype = "dashed", colour = "grey50")
    }
    p
}

.latents <- function(x, type) {
    name <- paste0("MSSVAE_", type)
    if (methods::is(x, "SingleCellExperiment") &&
        name %in% SingleCellExperiment::reducedDimNames(x)) {
        return(as.matrix(SingleCellExperiment::reducedDim(x, name)))
    }
    cd <- SummarizedExperiment::colData(x)
    if (name %in% colnames(cd)) {
        return(as.matrix(cd[[name]]))
    }
    .no_results()
}

.activity <- function(W, threshold) {
    n <- colSums(.above(W, threshold), na.rm = TRUE)
    m <- apply(abs(W), 2, max, na.rm = TRUE)
    order(-n, -m)
}

.colour_values <- function(x, colour.by) {
    cd <- SummarizedExperiment::colData(x)
    if (length(colour.by) == 1L && is.character(colour.by)) {
        if (!colour.by %in% colnames(cd)) {
            own <- colnames(cd)[!colnames(cd) %in%
                c("MSSVAE_shared", "MSSVAE_specific")]
            stop(.sprintf(c("colour.by = \"%s\" is not a colData column; ",
                "available: %s"), colour.by, .collapse(own)), call. = FALSE)
        }
        return(list(values = cd[[colour.by]], name = colour.by))
    }
    if (length(colour.by) != ncol(x)) {
        stop("colour.by must be a colData column name or one value per ",
            "sample", call. = FALSE)
    }
    list(values = colour.by, name = "colour")
}

#' Latents coloured by group
#'
#' Posterior means of the latents, one point per sample. `type = "shared"` plots
#' two shared factors for all samples; `type = "specific"` plots, in one panel
#' per group, that group's samples on its own two most active factors.
#'
#' @param x A SummarizedExperiment returned by [fitMSSVAE()].
#' @param type `"shared"` or `"specific"`.
#' @param dims Two factors to plot (names or indices within the block). `NULL`:
#'   the two most active (most genes above the fit's gene-set threshold, see
#'   [factorGeneSets()]).
#' @param colour.by A `colData` column (default `"MSSVAE_group"`, the groups of
#'   the fit) or one value per sample.
#' @param point.size Point size.
#' @return A ggplot object.
#' @examples
#' if (mssvaeAvailable()) {
#'     sce <- mssvaeExampleData()[seq_len(200), ]
#'     sce <- fitMSSVAE(sce, group = "lineage", n.shared = 4, n.specific = 2,
#'         hidden = c(8, 4), epochs = 3, threads = 1)
#'     plotLatents(sce, type = "shared", colour.by = "cell_type")
#' }
#' @export
plotLatents <- function(x, type = c("shared", "specific"), dims = NULL,
    colour.by = "MSSVAE_group", point.size = 1) {
    type <- .check_choice(type, c("shared", "specific"), "type")
    blocks <- .loading_blocks(x)
    col <- .colour_values(x, colour.by)
    Z <- .latents(x, type)
    p <- if (type == "shared") {
        .plot_shared(Z, blocks$shared, dims, col, .fit_threshold(x))
    } else {
        .plot_specific(x, Z, blocks, dims, col, .fit_threshold(x))
    }
    p + ggplot2::geom_point(size = point.size, alpha = 0.8) +
        ggplot2::theme_bw(base_size = 9)
}

.plot_shared <- function(Z, W, dims, col, threshold) {
    d <- if (is.null(dims)) .activity(W, threshold)[c(1L, 2L)] else dims
    if (is.character(d)) d <- match(d, colnames(Z))
    if (length(d) != 2L || anyNA(d) || any(d < 1 | d > ncol(Z))) {
        stop(sprintf("dims must name two of the shared factors (%s)",
            .collapse(colnames(Z))), call. = FALSE)
    }
    df <- data.frame(a = Z[, d[1]], b = Z[, d[2]], colour = col$values)
    labs <- colnames(Z)[d]
    ggplot2::ggplot(df, ggplot2::aes(x = .data$a, y = .data$b,
        colour = .data$colour)) +
        ggplot2::labs(x = labs[1], y = labs[2], colour = col$name,
            title = "Shared latents")
}

.plot_specific <- function(x, Z, blocks, dims, col, threshold) {
    grp <- SummarizedExperiment::colData(x)$MSSVAE_group
    if (is.null(grp)) {
        stop("colData(x)$MSSVAE_group is missing: the groups of the samples ",
            "are needed for type = \"specific\"", call. = FALSE)
    }
    parts <- lapply(names(blocks)[-1], function(g) {
        W <- blocks[[g]]
        if (ncol(W) < 2L) return(NULL)
        d <- if (is.null(dims)) .activity(W, threshold)[c(1L, 2L)] else dims
        if (is.character(d)) {
            d <- match(sub(paste0("^", g, "_"), "", d), seq_len(ncol(W)))
        }
        cells <- which(as.character(grp) == g)
        data.frame(a = Z[cells, d[1]], b = Z[cells, d[2]],
            colour = col$values[cells], panel = sprintf("%s\n(x: %s, y: %s)",
                g, colnames(W)[d[1]], colnames(W)[d[2]]))
    })
    df <- do.call(rbind, parts)
    ggplot2::ggplot(df, ggplot2::aes(x = .data$a, y = .data$b,
        colour = .data$colour)) +
        ggplot2::facet_wrap(~panel, scales = "free") +
        ggplot2::labs(x = "most active own factor",
            y = "second most active own factor", colour = col$name,
            title = paste("Group-specific latents",
                "(each group's samples on its own factors)"))
}

#' Factors across starts
#'
#' After a fit of several starts (`fitMSSVAE(starts = )`), one row per factor
#' of the kept start and one column per start: each cell is the Jaccard index
#' of the factor's gene set with its match in that start (0 where none
#' matched). A robust program is a full row; a seed-dependent one is a row that
#' is mostly empty. Rows are labelled with the factor's stability (the share of
#' the other starts in which it is matched, see [fitMSSVAE()]).
#'
#' @param x A SummarizedExperiment returned by [fitMSSVAE()] with `starts` of
#'   2 or more.
#' @param active.only Show only the factors with a gene set in the kept start.
#' @return A ggplot object.
#' @examples
#' if (mssvaeAvailable()) {
#'     sce <- mssvaeExampleData()[seq_len(200), ]
#'     sce <- fitMSSVAE(sce, group = "lineage", n.shared = 4, n.specific = 2,
#'         hidden = c(8, 4), epochs = 20, threads = 1, starts = 3)
#'     plotStability(sce)
#' }
#' @export
plotStability <- function(x, active.only = TRUE) {
    blocks <- .loading_blocks(x)
    md <- S4Vectors::metadata(x)$MSSVAE
    jac <- md$stability$jaccard
    if (is.null(jac)) {
        stop(.sprintf(c("x holds no matches across starts: plotStability ",
            "needs a fit with starts of 2 or more, e.g. fitMSSVAE(x, group ",
            "= ..., starts = 5)")), call. = FALSE)
    }
    chosen <- as.character(md$starts$chosen)
    keep <- if (isTRUE(active.only)) jac[, chosen] > 0 else
        rep(TRUE, nrow(jac))
    if (!any(keep)) {
        stop("the kept start has no factor with a gene set; use ",
            "active.only = FALSE to show every factor", call. = FALSE)
    }
    jac <- jac[keep, , drop = FALSE]
    stability <- .stability(x)[rownames(jac)]
    block <- rep(names(blocks), vapply(blocks, ncol, integer(1)))
    names(block) <- unlist(lapply(blocks, colnames), use.names = FALSE)
    labels <- sprintf("%s  %.2f", rownames(jac), stability)
    starts <- ifelse(colnames(jac) == chosen,
        paste0(colnames(jac), " (kept)"), colnames(jac))
    df <- data.frame(
        factor = factor(rep(labels, ncol(jac)), levels = rev(labels)),
        start = factor(rep(starts, each = nrow(jac)), levels = starts),
        block = factor(rep(block[rownames(jac)], ncol(jac)),
            levels = names(blocks)),
        jaccard = as.vector(jac))
    ggplot2::ggplot(df, ggplot2::aes(x = .data$start, y = .data$factor,
        fill = .data$jaccard)) +
        ggplot2::geom_tile(colour = "white") +
        ggplot2::facet_grid(block ~ ., scales = "free_y", space = "free_y") +
        ggplot2::scale_fill_viridis_c(limits = c(0, 1),
            name = "Jaccard of\nthe match") +
        ggplot2::labs(x = "start (seed)", y = NULL,
            title = "Factors across starts",
            subtitle = "row label: the factor's stability") +
        ggplot2::theme_minimal(base_size = 9) +
        ggplot2::theme(axis.text.x = ggplot2::element_text(angle = 90,
            hjust = 1, vjust = 0.5), panel.grid = ggplot2::element_blank(),
            strip.text.y = ggplot2::element_text(angle = 0, face = "bold"))
}
