# The vignette's clusterProfiler chunk, run where clusterProfiler is "installed"
# but finds nothing. clusterProfiler is not packaged in Debian, so a stand-in
# package of that name goes into a temporary library: its compareCluster()
# returns NULL (what the real one returns when no set has an enriched term),
# or, in the second run, a one-row result that dotplot() draws. The chunk's
# code is taken from vignettes/mssvae.Rmd itself.
#
# Usage: Rscript tests/vignette-clusterprofiler-chunk.R (from the repository
# root; `make vignettes` runs it).

rmd <- "vignettes/mssvae.Rmd"
lines <- readLines(rmd)
start <- grep("^```\\{r clusterprofiler,", lines)
stopifnot(length(start) == 1L)
end <- start + which(lines[(start + 1L):length(lines)] == "```")[1]
chunk <- lines[(start + 1L):(end - 1L)]

lib <- tempfile("stub-lib")
src <- file.path(tempfile("stub-src"), "clusterProfiler")
dir.create(lib)
dir.create(file.path(src, "R"), recursive = TRUE)
writeLines(c("Package: clusterProfiler", "Version: 0.0.1",
    "Title: Stand-in for a test", "Description: Stand-in for a test.",
    "License: MIT", "Author: test", "Maintainer: test <t@example.org>"),
    file.path(src, "DESCRIPTION"))
writeLines(c("export(compareCluster, dotplot)",
    "S3method(print, stub_plot)"), file.path(src, "NAMESPACE"))
writeLines(c(
    "compareCluster <- function(geneClusters, ...) {",
    "    if (isTRUE(getOption('stub.found'))) {",
    "        return(data.frame(Cluster = names(geneClusters)[1],",
    "            Description = 'a term', p.adjust = 0.01))",
    "    }",
    "    NULL",
    "}",
    "dotplot <- function(x, ...) {",
    "    options(stub.dotplot = nrow(x))",
    "    structure(list(), class = 'stub_plot')",
    "}",
    "print.stub_plot <- function(x, ...) invisible(x)"
), file.path(src, "R", "stub.R"))
out <- system2(file.path(R.home("bin"), "R"), c("CMD", "INSTALL", "-l",
    shQuote(lib), shQuote(src)), stdout = TRUE, stderr = TRUE)
stopifnot(is.null(attr(out, "status")))
.libPaths(c(lib, .libPaths()))

env <- new.env()
env$has_cp <- requireNamespace("clusterProfiler", quietly = TRUE)
stopifnot(env$has_cp)
env$sets <- list(shared_1 = c("CD3E", "CD3D"), shared_2 = c("MS4A1"))
env$universe <- c("CD3E", "CD3D", "MS4A1", "LYZ")

# 1. no enrichment: compareCluster() returns NULL, the chunk says so
msgs <- character()
withCallingHandlers(eval(parse(text = chunk), envir = env),
    message = function(m) {
        msgs <<- c(msgs, conditionMessage(m))
        invokeRestart("muffleMessage")
    })
stopifnot(any(grepl("found no enriched GO term", msgs)))
stopifnot(is.null(getOption("stub.dotplot")))
cat("ok: the chunk survives compareCluster() returning NULL\n")

# 2. an enrichment: the chunk draws the dot plot
options(stub.found = TRUE)
eval(parse(text = chunk), envir = env)
stopifnot(identical(getOption("stub.dotplot"), 1L))
cat("ok: the chunk draws the dot plot when a term is found\n")
