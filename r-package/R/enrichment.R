# Gene over-representation of the factor gene sets (paper section 5), offline:
# Fisher's exact
# test against a term -> gene table, with Benjamini-Yekutieli adjustment.

#' Gene Ontology terms of a set of genes
#'
#' A term-to-gene table for [enrichFactorSets()] (or
#' `clusterProfiler::enricher()`) from an organism annotation package, using
#' each gene's GO annotations and all their ancestor terms (`GOALL`), as
#' `clusterProfiler::enrichGO()` does.
#'
#' @param genes Gene identifiers, typically the universe of the fit
#'   (`rownames(x)`).
#' @param org.db An `OrgDb` object or the name of its package (default
#'   `"org.Hs.eg.db"`).
#' @param keytype The type of `genes` in `org.db` (`"SYMBOL"`, `"ENTREZID"`,
#'   `"ENSEMBL"`, ...).
#' @param ontology `"BP"` (biological process, the paper's choice), `"MF"` or
#'   `"CC"`.
#' @return A data.frame with columns `term` (GO ID), `gene` and `description`
#'   (the term's name, from GO.db), one row per annotated pair.
#' @examples
#' if (requireNamespace("org.Hs.eg.db", quietly = TRUE) &&
#'     requireNamespace("GO.db", quietly = TRUE)) {
#'     t2g <- goTerm2Gene(c("CD3E", "CD19", "MS4A1"))
#'     head(t2g[t2g$gene == "CD19", ])
#' }
#' @export
goTerm2Gene <- function(genes, org.db = "org.Hs.eg.db", keytype = "SYMBOL",
    ontology = "BP") {
    ontology <- .check_choice(ontology, c("BP", "MF", "CC"), "ontology")
    for (pkg in c("AnnotationDbi", "GO.db", if (is.character(org.db)) org.db)) {
        if (!requireNamespace(pkg, quietly = TRUE)) {
            stop(.sprintf(c(
                "goTerm2Gene() needs the package %s (Debian: r-bioc-%s; ",
                "Bioconductor: BiocManager::install(\"%s\"))"),
                pkg, tolower(pkg), pkg), call. = FALSE)
        }
    }
    db <- if (is.character(org.db)) getExportedValue(org.db, org.db) else
        org.db
    genes <- unique(as.character(genes[!is.na(genes)]))
    ann <- .select_quietly(db, keys = genes, keytype = keytype,
        columns = c("GOALL", "ONTOLOGYALL"))
    ann <- ann[!is.na(ann$GOALL) & ann$ONTOLOGYALL == ontology, ,
        drop = FALSE]
    t2g <- unique(data.frame(term = ann$GOALL, gene = ann[[keytype]],
        stringsAsFactors = FALSE))
    go <- .select_quietly(GO.db::GO.db, keys = unique(t2g$term),
        keytype = "GOID", columns = "TERM")
    t2g$description <- go$TERM[match(t2g$term, go$GOID)]
    rownames(t2g) <- NULL
    t2g
}

# AnnotationDbi::select() without its note on 1:1 and 1:many mappings (GOALL
# is one-to-many); other messages pass.
.select_quietly <- function(...) {
    withCallingHandlers(AnnotationDbi::select(...), message = function(m) {
        if (grepl("returned 1:(1|many) mapping", conditionMessage(m))) {
            invokeRestart("muffleMessage")
        }
    })
}

#' Over-representation of terms in the factor gene sets
#'
#' For each gene set (e.g. [factorGeneSets()]) and each term, a one-sided
#' Fisher's exact test of whether the set holds more of the term's genes than a
#' random set of its size drawn from the universe would (the hypergeometric
#' upper tail, as in clusterProfiler), with p-values adjusted within each set by
#' the Benjamini-Yekutieli procedure, as in the paper's section 5. Only terms
#' sharing at least one gene with the set and with between `min.size` and
#' `max.size` genes in the universe are tested.
#'
#' @section Universe:
#' With `annotated.only = TRUE` (the default) the universe and every set are cut
#' to the genes that have at least one term in `term2gene`, as clusterProfiler's
#' `enrichGO()` and `enricher()` do; the results then agree with theirs (same
#' `pAdjustMethod`, `minGSSize`, `maxGSSize` and `universe`). With `FALSE` every
#' gene of `universe` counts, annotated or not, which gives smaller p-values
#' when many genes have no term. The returned table says which in its attribute
#' `universe` and in `universe_size`.
#'
#' @param sets A named list of gene vectors.
#' @param universe All genes that could have been selected: the features of the
#'   fit.
#' @param term2gene A data.frame with columns `term` and `gene` (and optionally
#'   `description`), e.g. from [goTerm2Gene()].
#' @param min.size,max.size Term sizes (within the universe) to test;
#'   clusterProfiler's defaults are 10 and 500.
#' @param p.adjust.method Passed to [stats::p.adjust()]; `"BY"` as in the paper.
#' @param annotated.only Keep only genes with a term in `term2gene`, in the
#'   universe and in the sets (clusterProfiler's rule; see Universe).
#' @param BPPARAM A [BiocParallel::BiocParallelParam] to test the sets in
#'   parallel; the default runs them one after the other.
#' @return A data.frame, one row per set and tested term, ordered by set and
#'   p-value: `set`, `term`, `description`, `overlap` (k), `set_size` (n),
#'   `term_size` (M), `universe_size` (N), `fold_enrichment` ((k/n)/(M/N)),
#'   `p_value`, `p_adjust` and `genes` (the overlapping genes, "/"-separated).
#'   Its attribute `universe` is `"annotated"` or `"all"`.
#' @examples
#' t2g <- data.frame(
#'     term = rep(c("T1", "T2"), c(12, 10)),
#'     gene = paste0("g", c(1:12, 41:50))
#' )
#' sets <- list(f1 = paste0("g", c(1:6, 60:63)), f2 = paste0("g", 41:48))
#' enrichFactorSets(sets, paste0("g", 1:100), t2g, min.size = 5)
#' @export
enrichFactorSets <- function(sets, universe, term2gene, min.size = 10L,
    max.size = 500L, p.adjust.method = "BY", annotated.only = TRUE,
    BPPARAM = BiocParallel::SerialParam()) {
    if (!is.list(sets) || is.null(names(sets)) || any(!nzchar(names(sets)))) {
        stop("sets must be a named list of gene vectors ",
            "(e.g. factorGeneSets(x))", call. = FALSE)
    }
    if (!all(c("term", "gene") %in% names(term2gene))) {
        stop("term2gene must have columns `term` and `gene` ",
            "(e.g. goTerm2Gene(universe))", call. = FALSE)
    }
    if (!isTRUE(annotated.only) && !isFALSE(annotated.only)) {
        stop("annotated.only must be TRUE or FALSE", call. = FALSE)
    }
    universe <- unique(as.character(universe))
    t2g <- as.data.frame(term2gene)
    t2g$term <- as.character(t2g$term)
    t2g$gene <- as.character(t2g$gene)
    if (annotated.only) {
        universe <- universe[universe %in% t2g$gene]
    }
    t2g <- unique(t2g[t2g$gene %in% universe, , drop = FALSE])
    terms <- .sized_terms(t2g, min.size, max.size)
    out <- BiocParallel::bplapply(names(sets), function(s) {
        .enrich_one(s, sets[[s]], universe, terms, p.adjust.method)
    }, BPPARAM = BPPARAM)
    res <- do.call(rbind, out)
    if (is.null(res)) {
        res <- .enrich_one("", character(), universe, terms, "BY", TRUE)
    }
    res$set <- factor(res$set, levels = names(sets))
    res <- res[order(res$set, res$p_value, -res$fold_enrichment), ,
        drop = FALSE]
    rownames(res) <- NULL
    attr(res, "universe") <- if (annotated.only) "annotated" else "all"
    res
}

# Terms with min.size to max.size genes in the universe: their genes and
# descriptions.
.sized_terms <- function(t2g, min.size, max.size) {
    size <- table(t2g$term)
    keep <- names(size)[size >= min.size & size <= max.size]
    t2g <- t2g[t2g$term %in% keep, , drop = FALSE]
    desc <- if ("description" %in% names(t2g)) {
        t2g$description[match(keep, t2g$term)]
    } else {
        rep(NA_character_, length(keep))
    }
    list(genes = split(t2g$gene, factor(t2g$term, levels = keep)),
        description = stats::setNames(desc, keep))
}

# One set against every term; empty = TRUE gives the table's empty form.
.enrich_one <- function(s, set, universe, terms, p.adjust.method,
    empty = FALSE) {
    set <- intersect(unique(as.character(set)), universe)
    n <- length(set)
    N <- length(universe)
    hits <- lapply(terms$genes, function(g) g[g %in% set])
    k <- lengths(hits)
    tested <- if (empty || !n) logical(length(k)) else k > 0L
    if (!any(tested) && !empty) {
        return(NULL)
    }
    k <- k[tested]
    M <- lengths(terms$genes)[tested]
    p <- stats::phyper(k - 1L, M, N - M, n, lower.tail = FALSE)
    data.frame(set = rep(s, length(k)), term = names(k),
        description = unname(terms$description[names(k)]),
        overlap = unname(k), set_size = rep(n, length(k)),
        term_size = unname(M), universe_size = rep(N, length(k)),
        fold_enrichment = unname((k / n) / (M / N)), p_value = unname(p),
        p_adjust = stats::p.adjust(unname(p), method = p.adjust.method),
        genes = vapply(hits[tested], paste, character(1), collapse = "/"),
        stringsAsFactors = FALSE)
}
