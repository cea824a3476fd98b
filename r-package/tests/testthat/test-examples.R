# Every help page's examples, run with the Python core. `make r-check` runs
# R CMD check where no Python is set up, so there the examples' code inside
# `if (mssvaeAvailable())` is skipped; here it runs. Visible values are printed
# (to a discarded device and output) as R CMD check prints them at top level,
# so that a plot or print method that fails only when drawn fails here too.
# The examples' fits are a few steps long, so they warn that lambda0 has not
# reached its last value or that W is not sparse yet; those two warnings are
# muffled here, any other comes through.

example_files <- local({
    rd <- tools::Rd_db("mssvae")
    files <- vapply(names(rd), function(page) {
        out <- tempfile(sub("\\.Rd$", "", page), fileext = ".R")
        tools::Rd2ex(rd[[page]], out, commentDonttest = TRUE)
        if (file.exists(out)) out else NA_character_
    }, character(1))
    stats::setNames(files[!is.na(files)],
        sub("\\.Rd$", "", names(rd)[!is.na(files)]))
})

test_that("the help pages have examples to run", {
    expect_true(all(c("fitMSSVAE", "plotLoadings", "factorGeneSets") %in%
        names(example_files)))
})

short_fit_warnings <- "W may stay dense|W is not sparse yet"

for (page in names(example_files)) {
    test_that(sprintf("the examples of ?%s run", page), {
        skip_without_python()
        grDevices::pdf(NULL)
        on.exit(grDevices::dev.off(), add = TRUE)
        env <- new.env(parent = globalenv())
        expect_error(withCallingHandlers(
            utils::capture.output(source(example_files[[page]], local = env,
                print.eval = TRUE)),
            warning = function(w) {
                if (grepl(short_fit_warnings, conditionMessage(w))) {
                    invokeRestart("muffleWarning")
                }
            }), NA)
    })
}
