# Builds the fixture of r-package/tests/testthat/fixtures/enrichment/: a
# universe, three gene sets, a GO BP term-to-gene table and the expected
# over-representation p-values, for test-enrichment.R.
#
# The expected values are computed here independently of enrichFactorSets():
# term by term, with fisher.test() on the 2 x 2 table, following the steps of
# DOSE's enricher_internal() (used by clusterProfiler's enricher() and
# enrichGO()):
#   1. universe <- universe genes that have a term (ALLEXTID ∩ universe);
#   2. a set counts only its genes that have a term (n);
#   3. each term's genes are cut to the universe; terms with min.size to
#      max.size genes there are kept (M);
#   4. terms sharing a gene with the set are tested; p-values adjusted over
#      those terms within the set.
# Also stored: the p-values with the whole universe (annotated.only = FALSE).
#
# Run from the repository root: Rscript data-raw/enrichment_fixture.R
# (needs org.Hs.eg.db and GO.db; the fixture itself does not).

suppressPackageStartupMessages(library(org.Hs.eg.db))
out <- "r-package/tests/testthat/fixtures/enrichment"
dir.create(out, recursive = TRUE, showWarnings = FALSE)

set.seed(15)
symbols <- AnnotationDbi::keys(org.Hs.eg.db, "SYMBOL")
universe <- sort(sample(symbols, 300))
ann <- suppressMessages(AnnotationDbi::select(org.Hs.eg.db, universe,
    c("GOALL", "ONTOLOGYALL"), "SYMBOL"))
ann <- unique(ann[!is.na(ann$GOALL) & ann$ONTOLOGYALL == "BP",
    c("GOALL", "SYMBOL")])
size <- table(ann$GOALL)
# 150 terms of 3 to 60 genes in the universe: some fall outside
# min.size = 5 / max.size = 40, and many universe genes keep no term.
terms <- sample(names(size)[size >= 3 & size <= 60], 150)
t2g <- ann[ann$GOALL %in% terms, ]
t2g <- data.frame(term = t2g$GOALL, gene = t2g$SYMBOL)
t2g <- t2g[order(t2g$term, t2g$gene), ]
annotated <- sort(unique(t2g$gene))
unannotated <- setdiff(universe, annotated)
big <- names(sort(table(t2g$term), decreasing = TRUE))[5]
sets <- list(
    enriched = c(head(t2g$gene[t2g$term == big], 8),
        sample(unannotated, 6)),
    random = sample(universe, 25),
    mixed = c(sample(annotated, 10), sample(unannotated, 10))
)
sets <- lapply(sets, unique)

expected <- function(sets, universe, t2g, min.size, max.size, annotated.only) {
    if (annotated.only) universe <- intersect(universe, t2g$gene)
    N <- length(universe)
    genes_of <- lapply(split(t2g$gene, t2g$term), intersect, universe)
    M <- lengths(genes_of)
    genes_of <- genes_of[M >= min.size & M <= max.size]
    rows <- list()
    for (s in names(sets)) {
        set <- intersect(sets[[s]], universe)
        n <- length(set)
        res <- NULL
        for (term in names(genes_of)) {
            k <- length(intersect(set, genes_of[[term]]))
            if (k == 0L) next
            Mt <- length(genes_of[[term]])
            tab <- matrix(c(k, n - k, Mt - k, N - Mt - n + k), 2)
            p <- fisher.test(tab, alternative = "greater")$p.value
            res <- rbind(res, data.frame(set = s, term = term, overlap = k,
                set_size = n, term_size = Mt, universe_size = N,
                p_value = p))
        }
        res$p_adjust <- p.adjust(res$p_value, method = "BY")
        rows[[s]] <- res
    }
    out <- do.call(rbind, rows)
    out$annotated_only <- annotated.only
    out
}
exp <- rbind(expected(sets, universe, t2g, 5, 40, TRUE),
    expected(sets, universe, t2g, 5, 40, FALSE))
rownames(exp) <- NULL

writeLines(universe, file.path(out, "universe.txt"))
write.csv(t2g, file.path(out, "term2gene.csv"), row.names = FALSE)
write.csv(data.frame(set = rep(names(sets), lengths(sets)),
    gene = unlist(sets, use.names = FALSE)), file.path(out, "sets.csv"),
    row.names = FALSE)
write.csv(exp, file.path(out, "expected.csv"), row.names = FALSE)
cat(sprintf(paste0("universe %d genes (%d with a term), %d term-gene ",
    "rows, %d expected rows\n"), length(universe), length(annotated),
    nrow(t2g), nrow(exp)))
