# Argument checks, done in R where they are cheap, with messages that say what
# to do.

.collapse <- function(v, max = 20L) {
    v <- as.character(v)
    if (!length(v)) {
        return("(none)")
    }
    if (length(v) > max) {
        return(paste0(paste(v[seq_len(max)], collapse = ", "), ", ... (",
            length(v), " in all)"))
    }
    paste(v, collapse = ", ")
}

# sprintf() with its format in pieces, for messages wrapped at 80 columns:
# .sprintf(c("first part ", "second part %s"), x).
.sprintf <- function(fmt, ...) sprintf(paste(fmt, collapse = ""), ...)

.check_choice <- function(value, choices, what) {
    if (identical(value, choices)) {
        return(choices[1])
    }
    if (!is.character(value) || length(value) != 1L || !value %in% choices) {
        stop(sprintf("%s must be one of %s; got %s", what,
            paste(sprintf("\"%s\"", choices), collapse = ", "),
            paste(deparse(value), collapse = "")), call. = FALSE)
    }
    value
}

.resolve_group <- function(x, group) {
    n <- ncol(x)
    cols <- colnames(SummarizedExperiment::colData(x))
    if (is.null(group)) {
        stop("give `group`: the name of a colData column (one of: ",
            .collapse(cols), ") or one group label per sample", call. = FALSE)
    }
    key <- NULL
    if ((is.character(group) || is.factor(group)) && length(group) == 1L &&
        n != 1L) {
        key <- as.character(group)
        if (!key %in% cols) {
            stop(.sprintf(c("group column \"%s\" is not in colData(x); ",
                "available columns: %s"), key, .collapse(cols, 50L)),
                call. = FALSE)
        }
        group <- SummarizedExperiment::colData(x)[[key]]
    }
    if (!is.null(dim(group)) || is.list(group)) {
        stop("`group` must be a colData column name or a vector with one ",
            "label per sample", call. = FALSE)
    }
    if (length(group) != n) {
        stop(.sprintf(c("`group` has %d labels for %d samples (columns ",
            "of x); give one label per sample or a colData column name"),
            length(group), n), call. = FALSE)
    }
    if (anyNA(group)) {
        first <- which(is.na(group))[1]
        name <- if (is.null(colnames(x))) first else
            sprintf("'%s' (column %d)", colnames(x)[first], first)
        stop(.sprintf(c("%d samples have no group label (first: sample ",
            "%s); drop them or give them a group"), sum(is.na(group)), name),
            call. = FALSE)
    }
    levels <- if (is.factor(group)) levels(droplevels(group)) else
        sort(unique(as.character(group)))
    labels <- as.character(group)
    .check_group_levels(labels, levels)
    list(labels = labels, levels = levels, key = key)
}

.check_group_levels <- function(labels, levels) {
    if ("shared" %in% levels) {
        stop("a group is named \"shared\", the name of the shared block of ",
            "factors (shared_1, ...); rename that group", call. = FALSE)
    }
    sizes <- table(factor(labels, levels = levels))
    if (any(sizes < 2L)) {
        small <- sizes[sizes < 2L]
        too_small <- sprintf("\"%s\" (%d)", names(small), as.integer(small))
        stop("every group needs at least 2 samples; too small: ",
            .collapse(too_small), ". Merge or drop these groups",
            call. = FALSE)
    }
    invisible(TRUE)
}

.get_assay <- function(x, assay.type) {
    avail <- SummarizedExperiment::assayNames(x)
    n_assays <- length(SummarizedExperiment::assays(x))
    if (is.numeric(assay.type) && length(assay.type) == 1L) {
        if (assay.type < 1 || assay.type > n_assays) {
            stop(sprintf(
                "assay.type = %s is out of range: x has %d assays (%s)",
                assay.type, n_assays, .collapse(avail)), call. = FALSE)
        }
    } else if (!is.character(assay.type) || length(assay.type) != 1L ||
        !assay.type %in% avail) {
        stop(sprintf("assay \"%s\" not found in x; available assays: %s",
            paste(assay.type, collapse = ", "), .collapse(avail)),
            call. = FALSE)
    }
    SummarizedExperiment::assay(x, assay.type, withDimnames = FALSE)
}

# A matrix reticulate hands to Python without densifying: dgCMatrix stays
# sparse (scipy CSC), everything else becomes a base numeric or logical
# matrix.
# The assay as the core takes it: a dgCMatrix or a dense matrix, or, for a
# DelayedArray that is not sparse (with HDF5Array installed), the HDF5 dataset
# that holds it, whose rows the core reads in blocks (`on.disk = FALSE` for
# the preprocessing, which needs the matrix in memory).
.as_bridge_matrix <- function(m, on.disk = TRUE) {
    if (methods::is(m, "dgCMatrix")) {
        return(m)
    }
    if (methods::is(m, "sparseMatrix")) {
        m <- methods::as(m, "CsparseMatrix")
        if (!methods::is(m, "generalMatrix")) {
            m <- methods::as(m, "generalMatrix")
        }
        if (!methods::is(m, "dMatrix")) m <- methods::as(m, "dMatrix")
        return(m)
    }
    if (methods::is(m, "DelayedArray") || methods::is(m, "DelayedMatrix")) {
        is_sparse <- getExportedValue("DelayedArray", "is_sparse")
        sparse <- tryCatch(isTRUE(is_sparse(m)), error = function(e) FALSE)
        if (sparse) {
            return(.as_bridge_matrix(methods::as(m, "CsparseMatrix")))
        }
        if (on.disk && requireNamespace("HDF5Array", quietly = TRUE)) {
            return(.hdf5_source(m))
        }
        return(as.matrix(m))
    }
    m <- as.matrix(m)
    if (!is.numeric(m) && !is.logical(m)) {
        stop(sprintf("the assay must be numeric; got values of type %s",
            typeof(m)), call. = FALSE)
    }
    dimnames(m) <- NULL
    m
}

.subset_index <- function(subset, x) {
    G <- nrow(x)
    if (is.null(subset)) {
        return(seq_len(G))
    }
    if (is.logical(subset)) {
        if (length(subset) != G) {
            stop(.sprintf(c("a logical subset.row needs one value per ",
                "feature (%d), got %d"), G, length(subset)), call. = FALSE)
        }
        if (anyNA(subset)) stop("subset.row holds NA values", call. = FALSE)
        idx <- which(subset)
    } else if (is.character(subset) || is.factor(subset)) {
        subset <- as.character(subset)
        if (is.null(rownames(x))) {
            stop("subset.row gives feature names but x has no rownames; ",
                "give integer indices", call. = FALSE)
        }
        idx <- match(subset, rownames(x))
        if (anyNA(idx)) {
            stop(sprintf("%d features in subset.row are not rownames of x: %s",
                sum(is.na(idx)), .collapse(subset[is.na(idx)], 10L)),
                call. = FALSE)
        }
    } else if (is.numeric(subset)) {
        if (anyNA(subset) || any(subset < 1 | subset > G) ||
            any(subset != round(subset))) {
            stop(sprintf("subset.row must hold row indices between 1 and %d",
                G), call. = FALSE)
        }
        idx <- as.integer(subset)
    } else {
        stop("subset.row must be NULL or an integer, logical or character ",
            "vector", call. = FALSE)
    }
    if (anyDuplicated(idx)) {
        stop("subset.row names some features more than once", call. = FALSE)
    }
    if (length(idx) < 2L) {
        stop(.sprintf(c("subset.row keeps %d features; the model needs ",
            "more features than factors"), length(idx)), call. = FALSE)
    }
    sort(idx)
}

.count_or_null <- function(v, what, min = 1L) {
    if (is.null(v)) {
        return(NULL)
    }
    if (!is.numeric(v) || length(v) != 1L || is.na(v) || v != round(v) ||
        v < min) {
        stop(sprintf("%s must be a whole number >= %d; got %s", what, min,
            paste(deparse(v), collapse = "")), call. = FALSE)
    }
    as.integer(v)
}

.number_or_null <- function(v, what) {
    if (is.null(v)) {
        return(NULL)
    }
    if (!is.numeric(v) || length(v) != 1L || is.na(v) || v < 0) {
        stop(sprintf("%s must be a single non-negative number; got %s",
            what, paste(deparse(v), collapse = "")), call. = FALSE)
    }
    as.numeric(v)
}

.n_specific <- function(v, levels) {
    if (is.null(v)) {
        return(NULL)
    }
    # The numbers are checked by the Python core; R reads its named vectors
    # (which reach Python without their names) and NA (which does not exist
    # there).
    if (anyNA(v)) {
        stop("n.specific holds NA; give a whole number >= 0, or one per group ",
            "(named)", call. = FALSE)
    }
    if (length(v) == 1L && is.null(names(v))) {
        return(v)
    }
    if (is.null(names(v))) {
        stop(sprintf("n.specific with %d values must be named by group (%s)",
            length(v), .collapse(levels)), call. = FALSE)
    }
    missing <- setdiff(levels, names(v))
    if (length(missing)) {
        stop("n.specific has no entry for groups ", .collapse(missing),
            call. = FALSE)
    }
    as.list(stats::setNames(v[levels], levels))
}

.EXTRA_SETTINGS <- c(lr = "lr", lr.w = "lr_w", lambda1 = "lambda1",
    lambda0 = "lambda0", lambda0.breaks = "lambda0_breaks", a = "a", b = "b",
    balance.groups = "balance_groups", device = "device",
    covariates.in.encoder = "covariates_in_encoder",
    encoder.input = "encoder_input", lipschitz.decoder = "lipschitz_decoder",
    precision = "precision",
    fold.switched = "fold_switched", early.stopping = "early_stopping",
    stopping.tol = "stopping_tol", stopping.patience = "stopping_patience",
    max.steps = "max_steps", fold.nested = "fold_nested")

.extra_settings <- function(dots) {
    if (!length(dots)) {
        return(list())
    }
    nm <- names(dots)
    if (is.null(nm) || any(!nzchar(nm))) {
        stop("further settings in ... must be named (",
            .collapse(names(.EXTRA_SETTINGS)), ")", call. = FALSE)
    }
    unknown <- setdiff(nm, names(.EXTRA_SETTINGS))
    if (length(unknown)) {
        stop(sprintf("unknown argument%s %s; fitMSSVAE also takes: %s",
            if (length(unknown) > 1) "s" else "", .collapse(unknown),
            .collapse(names(.EXTRA_SETTINGS))), call. = FALSE)
    }
    out <- lapply(dots, function(v) if (length(v) > 1L) as.list(v) else v)
    stats::setNames(out, .EXTRA_SETTINGS[nm])
}

.feature_names <- function(x) {
    if (is.null(rownames(x))) {
        return(paste0("feature_", seq_len(nrow(x))))
    }
    rownames(x)
}

.sample_names <- function(x) {
    if (is.null(colnames(x))) {
        return(paste0("sample_", seq_len(ncol(x))))
    }
    colnames(x)
}

# The HDF5 dataset of a DelayedArray: its own file when it is an HDF5Array
# without delayed operations (names aside), else a temporary copy written
# block by block (HDF5Array::writeHDF5Array), so the assay is never dense in
# memory. HDF5 stores R's features x samples as samples x features: the
# core's rows.
.hdf5_source <- function(m) {
    pristine <- DelayedArray::isPristine(m, ignore.dimnames = TRUE) &&
        methods::is(DelayedArray::seed(m), "HDF5ArraySeed")
    if (!pristine) {
        m <- HDF5Array::writeHDF5Array(m, filepath = tempfile(fileext = ".h5"),
            name = "assay")
    }
    s <- DelayedArray::seed(m)
    list(h5_path = normalizePath(HDF5Array::path(s)),
        h5_name = methods::slot(s, "name"))
}
