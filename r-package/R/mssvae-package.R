#' mssvae: multi-study sparse VAE for SummarizedExperiment objects
#'
#' Shared and group-specific gene programs from data measured on the same
#' features in several groups (Moran and Krishnan, Nonlinear multi-study
#' factor analysis, 2026; `citation("mssvae")`). Start with [fitMSSVAE()];
#' read the results with [summarizeMSSVAE()], [factorGeneSets()],
#' [activeFactors()] and [loadingsTable()]; plot them with [plotLoadings()],
#' [plotLatents()] and [plotLoss()]; test the gene sets with
#' [enrichFactorSets()].
#'
#' @section Python:
#' The model runs in the package's Python core through reticulate.
#' [installMSSVAE()] sets it up once from R; [mssvaeAvailable()] says whether
#' it is set up. The package uses the first of
#' `options(mssvae.python = "/path/to/bin/python")`, the environment variable
#' `MSSVAE_PYTHON`, the interpreter recorded by [installMSSVAE()] or by
#' `make r-install` (the repository's `.venv/bin/python`), and
#' `RETICULATE_PYTHON`. That Python must hold the `mssvae` package of the same
#' version as this R package; [mssvaePython()] reports which one is used.
#'
#' @section Parallel work:
#' The fit, [prepareMSSVAE()] and the rankings run in the Python core, which
#' uses PyTorch's threads (argument `threads`), not R processes; they take no
#' `BPPARAM`. [enrichFactorSets()], the one function that does its work in R,
#' tests the sets in parallel through a BiocParallel `BPPARAM`.
#'
#' @keywords internal
#' @importFrom ggplot2 .data
#' @importFrom methods is as new
#' @importClassesFrom Matrix dgCMatrix
"_PACKAGE"
