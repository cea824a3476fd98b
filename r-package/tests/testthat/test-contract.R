# The Python core publishes the names both languages use and its list of
# settings; the R package's copies and its arguments must follow them.

test_that("the tables' columns are the core's", {
    skip_without_python()
    py <- mssvae:::.py_call("contract")
    expect_identical(mssvae:::.GENE_COLUMNS,
        as.character(unlist(py$gene_columns)))
    expect_identical(mssvae:::.FACTOR_COLUMNS,
        as.character(unlist(py$factor_columns)))
    expect_identical(mssvae:::.ACTIVE_FACTOR_COLUMNS,
        as.character(unlist(py$active_factor_columns)))
    expect_identical(mssvae:::.STABILITY_COLUMNS,
        as.character(unlist(py$stability_columns)))
})

test_that("every setting of the core is an argument of fitMSSVAE, and back", {
    skip_without_python()
    py <- mssvae:::.py_call("settings")
    py_names <- as.character(unlist(py$name))
    # setMethod() keeps a method whose arguments extend the generic's as .local
    method <- getMethod("fitMSSVAE", "SummarizedExperiment")
    local <- eval(body(method)[[2L]][[3L]])
    formal <- setdiff(names(formals(local)), c("x", "..."))
    r_names <- c(gsub(".", "_", formal, fixed = TRUE),
        unname(mssvae:::.EXTRA_SETTINGS))
    # every Python setting can be given from R
    expect_identical(setdiff(py_names, r_names), character())
    # R's extra settings are Python settings, or arguments of the fit itself
    fit_only <- c("device", "fold_switched")
    expect_identical(setdiff(unname(mssvae:::.EXTRA_SETTINGS),
        c(py_names, fit_only)), character())
})
