# Finding the Python core, its version, and what the user is told when it is
# missing.

test_that("the Python core is found unconfigured, of the R package's version", {
    skip_without_python()
    info <- mssvaePython()
    expect_true(file.exists(info$python))
    expect_identical(info$mssvae, as.character(packageVersion("mssvae")))
    expect_match(info$source,
        "recorded|options|MSSVAE_PYTHON|RETICULATE|already")
})

test_that("options(mssvae.python) and MSSVAE_PYTHON come first, in that order",
    {
    withr::local_options(mssvae.python = "/from/option/python")
    withr::local_envvar(MSSVAE_PYTHON = "/from/env/python")
    cand <- mssvae:::.python_candidates()
    expect_identical(vapply(cand[1:2], `[[`, "", "path"),
        c("/from/option/python", "/from/env/python"))
    options(mssvae.python = NULL)
    expect_identical(mssvae:::.python_candidates()[[1]]$path,
        "/from/env/python")
})

test_that("a missing Python says which command fixes it", {
    out <- run_fresh_r(paste0('options(mssvae.python = "/no/such/python"); ',
        'mssvae::mssvaePython()'))
    expect_match(out, "/no/such/python", fixed = TRUE)
    expect_match(out, "does not exist")
    expect_match(out, "installMSSVAE(", fixed = TRUE)
    expect_match(out, "make setup", fixed = TRUE)
    expect_match(out, "pip install", fixed = TRUE)
})

test_that("a Python without the mssvae module says which command fixes it", {
    py <- Sys.which("python3")
    other <- c("/usr/bin/python3",
        py)[file.exists(c("/usr/bin/python3", py))][1]
    skip_if(is.na(other), "no second Python on this machine")
    has <- system2(other, c("-c", shQuote("import mssvae")), stdout = FALSE,
        stderr = FALSE) == 0
    skip_if(has, "the system Python has mssvae installed")
    out <- run_fresh_r("mssvae::mssvaePython()",
        env = paste0("MSSVAE_PYTHON=", other))
    expect_match(out, "has no module 'mssvae'", fixed = TRUE)
    expect_match(out, "MSSVAE_PYTHON", fixed = TRUE)
    expect_match(out, "installMSSVAE(", fixed = TRUE)
})

test_that("Python errors keep their message and become classed R errors", {
    skip_without_python()
    err <- tryCatch(mssvae:::.py_call("fit_arrays", matrix(1, 2, 2),
        c("a", "b"), likelihood = "poisson"), error = identity)
    expect_s3_class(err, "mssvae_input_error")
    expect_match(conditionMessage(err), "likelihood must be 'nb' or 'gaussian'",
        fixed = TRUE)
    expect_false(grepl("Traceback|py_last_error", conditionMessage(err)))
})

test_that("an input error's fields become R's words and 1-based positions", {
    fields <- list(what = "the data hold 1 negative values",
        where = list(sample = "c1", row = 0L, feature = "g3", column = 2L),
        hint = "pass the raw counts (layer=...); lower n_shared / n_specific",
        args_named = list("layer", "n_shared", "n_specific"))
    msg <- mssvae:::.r_message(fields)
    expect_match(msg, "(first at sample 'c1' (column 1), feature 'g3' (row 3))",
        fixed = TRUE)
    expect_match(msg, "(assay.type=...)", fixed = TRUE)
    expect_match(msg, "n.shared / n.specific", fixed = TRUE)
    unlabelled <- mssvae:::.r_message(list(
        what = "2 samples have no group label",
        where = list(row = 3L), hint = "", args_named = list()))
    expect_identical(unlabelled,
        "2 samples have no group label (first at sample 4)")
})
