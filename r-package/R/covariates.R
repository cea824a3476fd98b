# Covariates of fitMSSVAE(): colData columns (or a data.frame) checked in R and
# handed to the Python core (mssvae.bridge.fit_arrays(covariates =,
# covariate_levels =)), which codes them (factors and characters one-hot
# without their first level, numbers standardised) and adds a per-gene effect
# to the decoder output (mssvae.io.covariates).

# Returns list(values = named list of plain vectors, levels = named list of
# factor levels), or list(values = NULL, levels = NULL) without covariates.
.resolve_covariates <- function(x, covariates) {
    if (is.null(covariates) ||
        (is.character(covariates) && !length(covariates))) {
        return(list(values = NULL, levels = NULL))
    }
    table <- .covariate_table(x, covariates)
    values <- list()
    levels <- list()
    for (name in names(table)) {
        v <- .check_covariate(x, name, table[[name]])
        if (is.factor(v)) {
            levels[[name]] <- levels(droplevels(v))
            v <- as.character(v)
        }
        values[[name]] <- if (is.numeric(v)) as.numeric(v) else v
    }
    list(values = values, levels = if (length(levels)) levels else NULL)
}

# The covariates as a named list of columns, one value per sample.
.covariate_table <- function(x, covariates) {
    n <- ncol(x)
    cd <- SummarizedExperiment::colData(x)
    if (is.character(covariates)) {
        unknown <- setdiff(covariates, colnames(cd))
        if (length(unknown)) {
            many <- length(unknown) > 1L
            stop(.sprintf(c("covariate column%s %s %s not in colData(x); ",
                "available columns: %s"), if (many) "s" else "",
                .collapse(sprintf("\"%s\"", unknown)),
                if (many) "are" else "is", .collapse(colnames(cd), 50L)),
                call. = FALSE)
        }
        if (anyDuplicated(covariates)) {
            stop("covariates names a column more than once: ",
                .collapse(covariates), call. = FALSE)
        }
        return(as.list(cd[, covariates, drop = FALSE]))
    }
    if (is.data.frame(covariates) || methods::is(covariates, "DataFrame")) {
        if (nrow(covariates) != n) {
            stop(.sprintf(c("covariates has %d rows for %d samples ",
                "(columns of x); give one row per sample"),
                nrow(covariates), n), call. = FALSE)
        }
        return(as.list(covariates))
    }
    stop("covariates must be colData column names ",
        "(e.g. c(\"batch\", \"donor\")) or a data.frame with one row per ",
        "sample", call. = FALSE)
}

# One covariate column: a plain vector with no missing values.
.check_covariate <- function(x, name, v) {
    if (!is.null(dim(v)) || is.list(v) || !(is.factor(v) ||
        is.character(v) || is.logical(v) || is.numeric(v))) {
        stop(.sprintf(c("covariate \"%s\" must be a factor, character, ",
            "logical or numeric vector; got %s"), name, class(v)[1]),
            call. = FALSE)
    }
    bad <- is.na(v) | (is.numeric(v) & !is.finite(v))
    if (any(bad)) {
        first <- which(bad)[1]
        where <- if (is.null(colnames(x))) sprintf("column %d", first) else
            sprintf("'%s' (column %d)", colnames(x)[first], first)
        stop(.sprintf(c("covariate \"%s\" has %d missing ",
            "(NA/NaN/infinite) values (first: sample %s); impute them, drop ",
            "those samples, or leave the covariate out"), name, sum(bad),
            where), call. = FALSE)
    }
    v
}
