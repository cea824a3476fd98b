# Over-representation (paper section 5): Fisher's exact test and
# Benjamini-Yekutieli.

toy_t2g <- function() {
    data.frame(term = c(rep("T1", 12), rep("T2", 10), rep("T3", 3)),
        gene = c(paste0("g", 1:12), paste0("g", 41:50),
        paste0("g", 1:3)),
        description = c(rep("first term", 12), rep("second term", 10),
        rep("small", 3)))
}

test_that("one-sided Fisher's exact tests, BY-adjusted within each set", {
    universe <- paste0("g", 1:100)
    sets <- list(f1 = paste0("g", c(1:6, 60:63)),
        f2 = paste0("g", c(41, 70:78)))
    res <- enrichFactorSets(sets, universe, toy_t2g(), min.size = 5,
        annotated.only = FALSE)
    # T3 is too small; f1 misses T2, f2 misses T1
    expect_identical(as.character(res$set), c("f1", "f2"))
    r1 <- res[res$set == "f1", ]
    # in set & term, in set only, term only, neither
    tab <- matrix(c(6, 4, 6, 84), 2)
    expect_equal(r1$p_value, fisher.test(tab, alternative = "greater")$p.value)
    expect_identical(c(r1$overlap, r1$set_size, r1$term_size, r1$universe_size),
        c(6L, 10L, 12L, 100L))
    expect_equal(r1$fold_enrichment, (6 / 10) / (12 / 100))
    expect_identical(r1$genes, "g1/g2/g3/g4/g5/g6")
    expect_identical(r1$description, "first term")
    both <- enrichFactorSets(list(f = paste0("g", c(1:6, 41:44))), universe,
        toy_t2g(), min.size = 5, annotated.only = FALSE)
    expect_equal(both$p_adjust, p.adjust(both$p_value, method = "BY"))
    expect_identical(nrow(enrichFactorSets(list(f = "g99"), universe,
        toy_t2g())), 0L)
    expect_error(enrichFactorSets(list("g1"), universe, toy_t2g()),
        "sets must be a named list")
    expect_error(enrichFactorSets(sets, universe, data.frame(a = 1)),
        "term2gene must have columns `term` and `gene`")
})

test_that("goTerm2Gene maps symbols to GO biological processes with ancestors",
    {
    skip_if_not_installed("org.Hs.eg.db")
    skip_if_not_installed("GO.db")
    t2g <- goTerm2Gene(c("CD3E", "CD3D", "CD19", "MS4A1", "NOT_A_GENE"))
    expect_identical(names(t2g), c("term", "gene", "description"))
    expect_true(all(grepl("^GO:", t2g$term)))
    # T cell receptor signaling pathway, and its ancestor immune system process
    expect_true(all(c("GO:0050852",
        "GO:0002376") %in% t2g$term[t2g$gene == "CD3E"]))
    expect_identical(unique(t2g$description[t2g$term == "GO:0002376"]),
        "immune system process")
    expect_false("NOT_A_GENE" %in% t2g$gene)
    expect_error(goTerm2Gene("CD3E", ontology = "XX"),
        "ontology must be one of")
})

read_fixture <- function() {
    dir <- test_path("fixtures", "enrichment")
    sets <- utils::read.csv(file.path(dir, "sets.csv"))
    list(universe = readLines(file.path(dir, "universe.txt")),
        t2g = utils::read.csv(file.path(dir, "term2gene.csv")),
        sets = split(sets$gene, factor(sets$set, unique(sets$set))),
        expected = utils::read.csv(file.path(dir, "expected.csv")))
}

test_that("p-values match the fixture, with and without annotated.only", {
    fx <- read_fixture()
    for (annotated in c(TRUE, FALSE)) {
        res <- enrichFactorSets(fx$sets, fx$universe, fx$t2g, min.size = 5,
            max.size = 40, annotated.only = annotated)
        exp <- fx$expected[fx$expected$annotated_only == annotated, ]
        key <- function(d) paste(d$set, d$term)
        expect_setequal(key(res), key(exp))
        res <- res[match(key(exp), key(res)), ]
        expect_equal(res$p_value, exp$p_value, tolerance = 1e-10)
        expect_equal(res$p_adjust, exp$p_adjust, tolerance = 1e-10)
        expect_identical(res$overlap, exp$overlap)
        expect_identical(res$set_size, exp$set_size)
        expect_identical(res$term_size, exp$term_size)
        expect_identical(res$universe_size, exp$universe_size)
        expect_identical(attr(res, "universe"),
            if (annotated) "annotated" else "all")
    }
    # annotated.only cuts the universe to the 64 genes with a term, and the
    # sets with it; the whole universe has 300
    annot <- enrichFactorSets(fx$sets, fx$universe, fx$t2g, 5, 40)
    all <- enrichFactorSets(fx$sets, fx$universe, fx$t2g, 5, 40,
        annotated.only = FALSE)
    expect_identical(unique(annot$universe_size), 64L)
    expect_identical(unique(all$universe_size), 300L)
    expect_identical(unique(annot$set_size[annot$set == "enriched"]), 8L)
    expect_identical(unique(all$set_size[all$set == "enriched"]), 14L)
    expect_error(enrichFactorSets(fx$sets, fx$universe, fx$t2g,
        annotated.only = NA), "annotated.only must be TRUE or FALSE")
})

test_that("BPPARAM gives the same table in parallel", {
    fx <- read_fixture()
    serial <- enrichFactorSets(fx$sets, fx$universe, fx$t2g, 5, 40)
    parallel <- enrichFactorSets(fx$sets, fx$universe, fx$t2g, 5, 40,
        BPPARAM = BiocParallel::MulticoreParam(2))
    expect_identical(parallel, serial)
})
