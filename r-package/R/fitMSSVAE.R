#' Fit a multi-study sparse VAE
#'
#' Fits the multi-study sparse variational autoencoder (MSSVAE) of Moran and
#' Krishnan to the samples (columns) of `x`, which belong to several groups
#' (studies, diseases, cell types). The model learns shared factors, active in
#' every group, and group-specific factors; its spike-and-slab lasso loadings
#' \eqn{W} say which features (genes) load on which factor. The fit runs in the
#' package's Python core through reticulate (see [mssvaePython()]).
#'
#' @param x A [SummarizedExperiment::SummarizedExperiment] or
#'   [SingleCellExperiment::SingleCellExperiment] with features in rows and
#'   samples in columns, or a features x samples matrix (base `matrix` or a
#'   sparse `Matrix`).
#' @param group The group of each sample: the name of a `colData(x)` column, or
#'   a vector or factor with one label per sample. Factor levels set the order
#'   of the groups; otherwise they are sorted. Every group needs at least two
#'   samples.
#' @param assay.type The assay to fit (name or index); raw counts for
#'   `likelihood = "nb"`. A sparse `dgCMatrix` assay reaches Python without
#'   being densified.
#' @param likelihood `"nb"` (negative binomial, for counts) or `"gaussian"`.
#' @param n.shared Number of shared factors \eqn{K_S} to start from; the prior
#'   switches off those the data do not need. `NULL`: the paper's Table 2 (50
#'   for NB, 30 for Gaussian).
#' @param n.specific Number of factors per group \eqn{K_m}: one number, or a
#'   vector named by group. `NULL`: Table 2 (10 for NB, 5 for Gaussian).
#' @param epochs The most training epochs; the fit stops sooner once the
#'   supports of \eqn{W} and the loss have settled (see `early.stopping` under
#'   `...`). `NULL`: Table 2 (800 for NB, 500 for Gaussian).
#' @param batch.size Minibatch size. `NULL`: 512, or a quarter of the samples
#'   when that is smaller (at least 32), so that small data sets take at least
#'   four steps per epoch.
#' @param seed Random seed; the same seed on the same machine gives identical
#'   results.
#' @param starts The number of fits, from seeds `seed`, `seed + 1`, ...: the
#'   one of lowest final loss is kept (MOFA2's choice), and every factor gets
#'   its stability across them, the fraction of the other starts that hold a
#'   factor with a similar gene set (Jaccard index of at least 0.5, within the
#'   same block; a shared program that another start estimated once in every
#'   group's block counts). [activeFactors()] and [summarizeMSSVAE()] show it,
#'   [plotStability()] draws every factor's match in every start, and
#'   `factorGeneSets(min.stability = )` filters on it. When the kept start
#'   ended with W still dense, no factor is scored (`NA`). With `model.dir`,
#'   start i checkpoints to `model.dir/start_i`, and `resume = TRUE` reloads
#'   the finished starts and continues the interrupted ones. Each start takes as
#'   long as a fit of one.
#' @param parallel.starts How many starts run at once, each in its own Python
#'   process on its share of `threads` and with its own copy of the data.
#'   `NULL`: one per thread on a CPU (two at once on two idle cores), one on a
#'   GPU. An interrupt stops them all, each keeping its checkpoint in
#'   `model.dir`.
#' @param subset.row Features to fit (integer, logical or character index). The
#'   others get `NA` loadings.
#' @param hidden Widths of the two hidden layers of every network, e.g. `c(128,
#'   64)`. `NULL`: Table 2 (`c(256, 128)` for NB, `c(50, 50)` for Gaussian).
#' @param sparsity.weight Weight of the spike-and-slab prior relative to the
#'   whole-data likelihood (1 is the exact MAP weighting of the paper's Eq.
#'   2.4). `NULL`: 20 for Gaussian; for NB 10, times N / 3200 for a fit of
#'   fewer than 3200 samples (the weight used is in
#'   `metadata(x)$MSSVAE$settings`).
#' @param model.dir A directory to save the fitted model in (and checkpoints
#'   during the fit), for `mssvae.MSSVAE.load()` in Python. `NULL`: not saved.
#'   A fit interrupted with Ctrl-C (Esc in RStudio) keeps its last checkpoint
#'   there.
#' @param resume Continue the interrupted fit whose checkpoint is in
#'   `model.dir`: call `fitMSSVAE()` again with the same data and arguments
#'   and `resume = TRUE`.
#' @param covariates Nuisance covariates the decoder conditions on (batch,
#'   donor, library protocol, ...), so that their variation need not occupy
#'   shared factors: names of `colData(x)` columns, e.g. `c("batch", "donor")`,
#'   or a data.frame with one row per sample. Factors, characters and logicals
#'   are one-hot coded without their first level (the reference; a factor's
#'   first level, else the first in sorted order), numbers standardised; the
#'   model adds a per-gene effect of each coded column to its decoder output,
#'   before the link (inside the softplus for `"nb"`). The coding is saved with
#'   the model (`model.dir`). `NULL`: none, the paper's model.
#' @param threads CPU threads PyTorch may use for this fit; `NULL`: the cores
#'   other processes leave idle when the fit starts (a core taken by another
#'   process stalls PyTorch's threads). Default `getOption("mssvae.threads")`.
#' @param verbose Show a progress bar (epoch, loss, \eqn{\lambda_0}, how long
#'   the supports of \eqn{W} have held, and the time left at most) and, at the
#'   end, a message that says after how many epochs the fit stopped and why.
#'   Default: on in interactive sessions, off while knitr knits or testthat
#'   tests.
#' @param ... Further settings of the model, in dot.case: `lr`, `lr.w` (learning
#'   rates of the networks and of \eqn{W}), `lambda1`, `lambda0`,
#'   `lambda0.breaks` (the spike-and-slab scales and the gradient steps where
#'   they change; by default 150 and 900 (Gaussian) or 280 and 1680 (NB),
#'   scaled down where the fit's steps cannot hold them with a fifth left),
#'   `a`, `b`
#'   (the Beta prior of \eqn{\eta}), `balance.groups`, `device` (`"auto"`,
#'   `"cpu"`, `"cuda"`), `covariates.in.encoder` (with `covariates`: whether the
#'   encoders see them too; default `TRUE`), `encoder.input` (`"standardized"`,
#'   the NB default: log-normalised counts scaled per gene; `"raw"`:
#'   log1p(counts)), `lipschitz.decoder` (`TRUE`, the NB default: the decoder
#'   is constrained so that \eqn{W} carries the scale), `precision` (`"auto"`,
#'   the default: bf16 on GPUs of compute capability 8.0 or more, fp16 on
#'   older GPUs, bf16 on CPUs with native bf16, else `"fp32"`; or `"fp32"`,
#'   `"bf16"`, `"fp16"`),
#'   `early.stopping` (default `TRUE`; `FALSE` runs all `epochs`),
#'   `stopping.tol`, `stopping.patience` (the rule's relative loss improvement,
#'   default 1e-3, and its window in epochs, default 10), `max.steps` (the most
#'   gradient steps), `fold.switched` (`TRUE`: a program estimated once in every
#'   group's block is moved into the shared block, the paper's post-processing
#'   for "information switching", App. C.3; recorded in
#'   `metadata(x)$MSSVAE$folded`; default `FALSE`), `fold.nested` (`TRUE`, the
#'   NB default: once the supports of \eqn{W} have settled, a column whose gene
#'   set lies mostly inside a larger column of its block is set to zero and the
#'   fit goes on, so that the larger column takes its genes back; recorded in
#'   `metadata(x)$MSSVAE$stopping$folded`).
#'
#' @return `x` with the results (for a matrix: a `SingleCellExperiment` holding
#'   it as assay `assay.type`):
#' \describe{
#'   \item{`rowData(x)$MSSVAE_W_shared`}{the shared loadings \eqn{W^{(S)}}, a
#'     features x \eqn{K_S} matrix column with column names `shared_1`,
#'     `shared_2`, ...}
#'   \item{`rowData(x)$MSSVAE_W_<group>`}{one matrix column per group (features
#'     x \eqn{K_m}), column names `<group>_1`, ...; e.g.
#'     `rowData(x)[["MSSVAE_W_T cell"]]`.}
#'   \item{`reducedDim(x, "MSSVAE_shared")`}{posterior means of the shared
#'     latents (samples x \eqn{K_S}); for a plain SummarizedExperiment:
#'     `colData(x)$MSSVAE_shared`.}
#'   \item{`reducedDim(x, "MSSVAE_specific")`}{each sample's own group's latents
#'     (samples x max \eqn{K_m}, columns `specific_1`, ...; zero where its group
#'     has fewer); for a plain SummarizedExperiment:
#'     `colData(x)$MSSVAE_specific`.}
#'   \item{`colData(x)$MSSVAE_group`}{the group of each sample, a factor.}
#'   \item{`metadata(x)$MSSVAE`}{a list with the same entries as
#'     `.uns["mssvae"]` in Python: `groups`, `group_key`, `n_specific`,
#'     `eta_shared`, `eta_specific` (named by factor), `p_star` (features x
#'     factors), `phi` (NB) or `sigma2` (Gaussian), `features_used`, `history`
#'     (a data.frame: one row per epoch), `settings`, `versions`, `runtime`
#'     (device, the decoder's precision and why, threads, batch size),
#'     `stopping` (epochs and steps run, `reason`: `"converged"`,
#'     `"max_epochs"` or `"max_steps"`; `folded`, each factor folded by
#'     `fold.nested` named by the factor it was folded into), `distributed` (`world_size` 1 and
#'     `backend` `"none"` for a fit from R; a data-parallel fit under
#'     `torchrun` records its processes there); with `starts` of 2 or more
#'     also `stability` (`stability` and `median_jaccard`, named by factor;
#'     `jaccard`, factors x starts named by seed, the Jaccard index of each
#'     factor's match in each start; and `min_jaccard`, the least Jaccard
#'     index of a match) and `starts`
#'     (every start's `seed` and final loss, `objective`, and the `chosen`
#'     start's seed); with
#'     covariates also `covariates` (their coding: `names`, `kinds`, `columns`,
#'     `levels`, `center`, `scale`) and `covariate_effects` (features x coded
#'     columns: each gene's effect on the decoder output); and from R:
#'     `assay_type`, `subset_row`, `model_dir`, `warnings`.}
#' }
#' Features outside `subset.row` have `NA` loadings; features constant in every
#' sample are left out of the fit (with a warning) and get zero loadings.
#'
#' @details Errors in the input stop with a message that says what is wrong and
#'   what to do: an unknown `group` or `covariates` column (the message lists
#'   the `colData` columns), missing labels or covariate values (how many, and
#'   the first sample), a group with fewer than two samples, NaN values,
#'   negative or non-integer values with the NB model, more factors than
#'   features.
#'
#' @seealso [factorGeneSets()], [loadingsTable()], [activeFactors()],
#'   [plotLoadings()], [plotLatents()], [plotLoss()], [prepareMSSVAE()].
#' @references Moran, G. E. and Krishnan, Nonlinear multi-study factor analysis
#'   (2026).
#' @examples
#' ## A tiny fit, seconds long: a few genes, tiny layers, three epochs (the
#' ## vignette fits the whole example with more epochs).
#' if (mssvaeAvailable()) {
#'     sce <- mssvaeExampleData()[seq_len(200), ]
#'     sce <- fitMSSVAE(sce, group = "lineage", n.shared = 4, n.specific = 2,
#'         hidden = c(8, 4), epochs = 3, threads = 1)
#'     sce
#'     activeFactors(sce)[, c("factor", "n_genes", "top_genes")]
#' }
#' @name fitMSSVAE
#' @export
setGeneric("fitMSSVAE", function(x, ...) standardGeneric("fitMSSVAE"))

#' @rdname fitMSSVAE
#' @importClassesFrom SummarizedExperiment SummarizedExperiment
#' @export
setMethod("fitMSSVAE", "SummarizedExperiment", function(x, group,
    assay.type = "counts", likelihood = c("nb", "gaussian"), n.shared = NULL,
    n.specific = NULL, epochs = NULL, batch.size = NULL, seed = 0L,
    starts = 1L, parallel.starts = NULL, subset.row = NULL, hidden = NULL,
    sparsity.weight = NULL, model.dir = NULL,
    resume = FALSE, covariates = NULL, threads = getOption("mssvae.threads"),
    verbose = .show_progress(), ...) {
    # The settings are checked by the Python core (named in R's terms, see
    # .r_message()); R checks what Python cannot see: likelihood's vector
    # default, NA (which reticulate hands over as TRUE or "NA"), colData
    # columns and assays.
    likelihood <- .check_choice(likelihood, c("nb", "gaussian"), "likelihood")
    if (!isTRUE(resume) && !isFALSE(resume)) {
        stop("resume must be TRUE or FALSE", call. = FALSE)
    }
    grp <- .resolve_group(x, if (missing(group)) NULL else group)
    mat <- .get_assay(x, assay.type)
    rows <- .subset_index(subset.row, x)
    cov <- .resolve_covariates(x, covariates)
    extra <- .extra_settings(list(...))
    args <- c(list(
        likelihood = likelihood,
        n_shared = n.shared,
        n_specific = .n_specific(n.specific, grp$levels),
        epochs = epochs,
        batch_size = batch.size,
        seed = seed,
        starts = starts,
        parallel_starts = parallel.starts,
        hidden = hidden,
        sparsity_weight = sparsity.weight,
        model_dir = if (!is.null(model.dir)) {
            normalizePath(model.dir, mustWork = FALSE)
        },
        resume = resume,
        threads = threads,
        progress = .fit_progress(verbose),
        group_key = grp$key,
        covariates = cov$values,
        covariate_levels = cov$levels
    ), extra)
    if (length(rows) != nrow(x)) {
        mat <- mat[rows, , drop = FALSE]
    }
    res <- .worker_fit(.as_bridge_matrix(mat), grp$labels, grp$levels,
        .feature_names(x)[rows], .sample_names(x), args)
    .report_fit(res, verbose)
    storeMSSVAEResults(x, res, rows, assay.type)
})

#' @rdname fitMSSVAE
#' @export
setMethod("fitMSSVAE", "ANY", function(x, group, assay.type = "counts", ...) {
    if (length(dim(x)) != 2L || is.data.frame(x)) {
        stop("x must be a SummarizedExperiment, a SingleCellExperiment or a ",
            "features x samples matrix",
            if (is.data.frame(x)) " (convert a data.frame with as.matrix())",
            "; got an object of class ", class(x)[1], call. = FALSE)
    }
    if (!missing(group) && (is.character(group) || is.factor(group)) &&
        length(group) == 1L && ncol(x) != 1L) {
        stop(.sprintf(c("group = \"%s\" names a column, but a matrix has ",
            "no colData: give one group label per sample (column)"),
            as.character(group)), call. = FALSE)
    }
    if (!is.character(assay.type) || length(assay.type) != 1L) {
        assay.type <- "counts"
    }
    sce <- SingleCellExperiment::SingleCellExperiment(
        assays = stats::setNames(list(x), assay.type))
    fitMSSVAE(sce, group = if (missing(group)) NULL else group,
        assay.type = assay.type, ...)
})
