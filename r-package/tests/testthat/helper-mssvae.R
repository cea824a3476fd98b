# Small data and tiny fits: every fit here takes a second or two on 2 CPU cores.
suppressPackageStartupMessages({
    library(SingleCellExperiment)
    library(SummarizedExperiment)
})

# Counts for `G` genes in 3 groups: genes 1-8 follow a shared program, genes
# 9-12 a program of group "A" only; the rest are noise.
sim_counts <- function(n.per = 20L, G = 30L, seed = 1L) {
    set.seed(seed)
    grp <- rep(c("A", "B", "C"), each = n.per)
    N <- length(grp)
    z <- stats::rnorm(N)
    zA <- stats::rnorm(N)
    mu <- matrix(4, G, N)
    mu[1:8, ] <- rep(exp(1.5 + 0.8 * z), each = 8)
    mu[9:12, grp == "A"] <- rep(exp(1.5 + 0.8 * zA[grp == "A"]), each = 4)
    counts <- matrix(stats::rpois(G * N, mu), G, N,
        dimnames = list(sprintf("gene%02d", seq_len(G)),
        sprintf("cell%02d", seq_len(N))))
    list(counts = counts, group = grp)
}

make_sce <- function(sparse = FALSE, ...) {
    s <- sim_counts(...)
    m <- if (sparse) methods::as(s$counts, "CsparseMatrix") else s$counts
    cd <- S4Vectors::DataFrame(condition = factor(s$group,
        levels = c("C", "A", "B")),
            batch = rep(c("b1", "b2"),
            length.out = length(s$group)),
            row.names = colnames(s$counts))
    SingleCellExperiment(assays = list(counts = m), colData = cd)
}

make_se <- function(...) {
    sce <- make_sce(...)
    SummarizedExperiment(assays = assays(sce), colData = colData(sce))
}

# lambda0.breaks: the annealing within these few steps (the default is set for
# Table 2's sizes)
FAST <- list(n.shared = 3L, n.specific = 2L, hidden = c(8L, 6L), epochs = 2L,
    batch.size = 32L, seed = 0L, threads = 1L, lambda0.breaks = c(1L, 2L))

# `code` run while the trainer raises KeyboardInterrupt (Ctrl-C) as it starts
# epoch `epoch` + 1, after `epoch` epochs (as R's interrupt reaches Python
# through reticulate)
interrupting_at <- function(epoch, code) {
    reticulate::py_run_string(sprintf(paste(
        "import mssvae.core.train as _train",
        "_mssvae_batches = _train.epoch_batches",
        "_mssvae_calls = [0]",
        "def _stop(*args, **kw):",
        "    _mssvae_calls[0] += 1",
        "    if _mssvae_calls[0] > %d:",
        "        raise KeyboardInterrupt",
        "    return _mssvae_batches(*args, **kw)",
        "_train.epoch_batches = _stop", sep = "\n"), as.integer(epoch)))
    on.exit(reticulate::py_run_string(
        "_train.epoch_batches = _mssvae_batches"))
    code
}

fit_fast <- function(x, group = "condition", ...) {
    do.call(fitMSSVAE,
        c(list(x, group = group), utils::modifyList(FAST, list(...))))
}

# A fitted object with hand-made loadings (no Python): for tests of the readers
# and plots.
fake_fit <- function() {
    sce <- make_sce(n.per = 5L, G = 12L)[1:10, ]
    genes <- rownames(sce)
    Ws <- matrix(0, 10, 2, dimnames = list(genes, c("shared_1", "shared_2")))
    Ws[1:3, 1] <- c(0.9, -0.7, 0.6)
    Ws[4, 1] <- 0.4
    WA <- matrix(0, 10, 2, dimnames = list(genes, c("A_1", "A_2")))
    WA[5:6, 1] <- c(0.8, 1.2)
    WB <- matrix(0, 10, 1, dimnames = list(genes, "B_1"))
    WC <- matrix(0, 10, 1, dimnames = list(genes, "C_1"))
    WC[1, 1] <- 2
    rd <- rowData(sce)
    rd$MSSVAE_W_shared <- Ws
    rd$MSSVAE_W_A <- WA
    rd$MSSVAE_W_B <- WB
    rd$MSSVAE_W_C <- WC
    rowData(sce) <- rd
    n <- ncol(sce)
    reducedDim(sce, "MSSVAE_shared") <- matrix(seq_len(2 * n), n, 2,
        dimnames = list(colnames(sce), colnames(Ws)))
    reducedDim(sce, "MSSVAE_specific") <- matrix(seq_len(2 * n) / 2, n, 2,
        dimnames = list(colnames(sce),
        c("specific_1",
        "specific_2")))
    sce$MSSVAE_group <- factor(as.character(sce$condition),
        levels = c("A", "B", "C"))
    metadata(sce)$MSSVAE <- list(
        groups = c("A", "B", "C"), eta_shared = c(shared_1 = 0.3,
            shared_2 = 0.01),
        eta_specific = c(A_1 = 0.2, A_2 = 0.01, B_1 = 0.01, C_1 = 0.1),
        history = data.frame(epoch = 1:4, loss = c(10, 8, 7, 6.5),
            reconstruction = c(9, 7, 6, 5.5),
                kl = c(1, 1, 1, 1), lambda0 = c(1, 10, 10,
                15), seconds = rep(0.1, 4)))
    sce
}

# Tests that need the Python core skip, with the reason, where it is not set up
# (an R CMD check by a user without Python); the others run everywhere.
skip_without_python <- function() {
    skip_if_not(mssvaeAvailable(verbose = FALSE),
        "mssvae's Python core is not set up (see ?installMSSVAE)")
}

# Runs R code in a fresh R process (a Python can start only once per process)
# and returns its output as one string.
run_fresh_r <- function(code, env = character()) {
    out <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"),
        c("-e", shQuote(code)), stdout = TRUE, stderr = TRUE, env = env))
    paste(out, collapse = "\n")
}
