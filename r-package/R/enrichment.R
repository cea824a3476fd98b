# Gene over-representation of the factor gene sets (paper section 5), offline: Fisher's exact
# test against a term -> gene table, with Benjamini-Yekutieli adjustment.

#' Gene Ontology terms of a set of genes
#'
#' A term-to-gene table for [enrichFactorSets()] (or `clusterProfiler::enricher()`) from an
#' organism annotation package, using each gene's GO annotations and all their ancestor
#' terms (`GOALL`), as `clusterProfiler::enrichGO()` does.
#'
#' @param genes Gene identifiers, typically the universe of the fit (`rownames(x)`).
#' @param org.db An `OrgDb` object or the name of its package (default `"org.Hs.eg.db"`).
#' @param keytype The type of `genes` in `org.db` (`"SYMBOL"`, `"ENTREZID"`, `"ENSEMBL"`, ...).
#' @param ontology `"BP"` (biological process, the paper's choice), `"MF"` or `"CC"`.
#' @return A data.frame with columns `term` (GO ID), `gene` and `description` (the term's
#'   name, from GO.db), one row per annotated pair.
#' @examples
#' \dontrun{
#' t2g <- goTerm2Gene(rownames(sce))
#' }
#' @export
goTerm2Gene <- function(genes, org.db = "org.Hs.eg.db", keytype = "SYMBOL", ontology = "BP") {
    ontology <- .check_choice(ontology, c("BP", "MF", "CC"), "ontology")
    for (pkg in c("AnnotationDbi", "GO.db", if (is.character(org.db)) org.db)) {
        if (!suppressMessages(requireNamespace(pkg, quietly = TRUE))) {
            stop(sprintf("goTerm2Gene() needs the package %s (Debian: r-bioc-%s; Bioconductor: BiocManager::install(\"%s\"))",
                         pkg, tolower(pkg), pkg), call. = FALSE)
        }
    }
    db <- if (is.character(org.db)) getExportedValue(org.db, org.db) else org.db
    genes <- unique(as.character(genes[!is.na(genes)]))
    ann <- suppressMessages(AnnotationDbi::select(db, keys = genes, keytype = keytype,
                                                  columns = c("GOALL", "ONTOLOGYALL")))
    ann <- ann[!is.na(ann$GOALL) & ann$ONTOLOGYALL == ontology, , drop = FALSE]
    t2g <- unique(data.frame(term = ann$GOALL, gene = ann[[keytype]], stringsAsFactors = FALSE))
    terms <- unique(t2g$term)
    names <- suppressMessages(AnnotationDbi::select(GO.db::GO.db, keys = terms, keytype = "GOID", columns = "TERM"))
    t2g$description <- names$TERM[match(t2g$term, names$GOID)]
    rownames(t2g) <- NULL
    t2g
}

#' Over-representation of terms in the factor gene sets
#'
#' For each gene set (e.g. [factorGeneSets()]) and each term, a one-sided Fisher's exact
#' test of whether the set holds more of the term's genes than a random set of its size
#' drawn from `universe` would (the hypergeometric upper tail, as in clusterProfiler), with
#' p-values adjusted within each set by the Benjamini-Yekutieli procedure, as in the paper's
#' section 5. Terms are restricted to the universe; only terms sharing at least one gene with
#' the set and with between `min.size` and `max.size` genes in the universe are tested.
#'
#' @param sets A named list of gene vectors.
#' @param universe All genes that could have been selected: the features of the fit.
#' @param term2gene A data.frame with columns `term` and `gene` (and optionally
#'   `description`), e.g. from [goTerm2Gene()].
#' @param min.size,max.size Term sizes (within the universe) to test; clusterProfiler's
#'   defaults are 10 and 500.
#' @param p.adjust.method Passed to [stats::p.adjust()]; `"BY"` as in the paper.
#' @return A data.frame, one row per set and tested term, ordered by set and p-value:
#'   `set`, `term`, `description`, `overlap` (k), `set_size` (n), `term_size` (M),
#'   `universe_size` (N), `fold_enrichment` ((k/n)/(M/N)), `p_value`, `p_adjust` and
#'   `genes` (the overlapping genes, "/"-separated).
#' @export
enrichFactorSets <- function(sets, universe, term2gene, min.size = 10L, max.size = 500L, p.adjust.method = "BY") {
    if (!is.list(sets) || is.null(names(sets)) || any(!nzchar(names(sets)))) {
        stop("sets must be a named list of gene vectors (e.g. factorGeneSets(x))", call. = FALSE)
    }
    if (!all(c("term", "gene") %in% names(term2gene))) {
        stop("term2gene must have columns `term` and `gene` (e.g. goTerm2Gene(universe))", call. = FALSE)
    }
    universe <- unique(as.character(universe))
    N <- length(universe)
    t2g <- unique(as.data.frame(term2gene)[as.character(term2gene$gene) %in% universe, , drop = FALSE])
    t2g$term <- as.character(t2g$term)
    t2g$gene <- as.character(t2g$gene)
    size <- table(t2g$term)
    keep_terms <- names(size)[size >= min.size & size <= max.size]
    t2g <- t2g[t2g$term %in% keep_terms, , drop = FALSE]
    desc <- if ("description" %in% names(t2g)) t2g$description[match(keep_terms, t2g$term)] else rep(NA_character_, length(keep_terms))
    names(desc) <- keep_terms
    by_term <- split(t2g$gene, factor(t2g$term, levels = keep_terms))
    M_all <- lengths(by_term)
    out <- lapply(names(sets), function(s) {
        set <- intersect(unique(as.character(sets[[s]])), universe)
        n <- length(set)
        if (!n || !length(by_term)) return(NULL)
        hits <- lapply(by_term, function(g) g[g %in% set])
        k <- lengths(hits)
        tested <- k > 0L
        if (!any(tested)) return(NULL)
        k <- k[tested]
        M <- M_all[tested]
        p <- stats::phyper(k - 1L, M, N - M, n, lower.tail = FALSE)
        data.frame(set = s, term = names(k), description = unname(desc[names(k)]), overlap = unname(k),
                   set_size = n, term_size = unname(M), universe_size = N,
                   fold_enrichment = unname((k / n) / (M / N)), p_value = unname(p),
                   p_adjust = stats::p.adjust(unname(p), method = p.adjust.method),
                   genes = vapply(hits[tested], paste, character(1), collapse = "/"),
                   stringsAsFactors = FALSE)
    })
    res <- do.call(rbind, out)
    if (is.null(res)) {
        res <- data.frame(set = character(), term = character(), description = character(), overlap = integer(),
                          set_size = integer(), term_size = integer(), universe_size = integer(),
                          fold_enrichment = numeric(), p_value = numeric(), p_adjust = numeric(), genes = character())
    }
    res$set <- factor(res$set, levels = names(sets))
    res <- res[order(res$set, res$p_value, -res$fold_enrichment), , drop = FALSE]
    rownames(res) <- NULL
    res
}
