# The layout of MSSVAE results in a SummarizedExperiment / SingleCellExperiment
# (the README's results contract), written and read here only: by fitMSSVAE(),
# and by the Python core's read_sce() / write_sce() through rpy2.

# A features x k matrix on all rows of x: the fitted `rows` filled in, the
# others `fill`.
.full_rows <- function(x, rows, m, cols, fill = NA_real_) {
    m <- as.matrix(m)
    out <- matrix(fill, nrow(x), ncol(m), dimnames = list(rownames(x), cols))
    out[rows, ] <- m
    out
}

# The results of the core (the bridge's results dict, as an R list) stored in
# `x`: loadings in rowData, latents in reducedDims (colData for a plain
# SummarizedExperiment), the group in colData, the rest in metadata. `rows`:
# the rows of `x` that were fitted; the others get NA.
.store_results <- function(x, res, rows, assay.type) {
    x <- .store_loadings(x, res, rows)
    x <- .store_latents(x, res)
    S4Vectors::metadata(x)$MSSVAE <- .fit_metadata(x, res, rows, assay.type)
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

# The results stored in `x` by .store_results() as the core's arrays (NULL
# when there are none): W_shared (G x K_S), W_specific (the groups' blocks
# side by side), Z_shared, Z_specific (NULL without latents) and metadata.
.layout_results <- function(x) {
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

# `x` without the loadings, latents and metadata .store_results() wrote (the
# groups in colData(x)$MSSVAE_group stay: they are the samples' annotation).
.drop_results <- function(x) {
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
