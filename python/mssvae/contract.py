"""The names of the results contract: AnnData keys, table columns and the SingleCellExperiment
layout, defined once here for the Python core, the command line and the R package (the R
package's copies are checked against these by its tests, through ``mssvae.bridge.contract``).

The contract is documented in the README ("Results contract"); change it there and here together.
"""

W_SHARED = "mssvae_W_shared"  # .varm, G x K_S
W_SPECIFIC = "mssvae_W_specific"  # .varm, G x sum(K_m), blocks in the order of UNS["groups"]
Z_SHARED = "X_mssvae_shared"  # .obsm, N x K_S, posterior means
Z_SPECIFIC = "X_mssvae_specific"  # .obsm, N x K_m, own-group posterior means
UNS = "mssvae"  # .uns entry holding groups, eta, settings, history, versions

# entries of .uns["mssvae"]
GROUPS = "groups"  # list of group labels, in block order
GROUP_KEY = "group_key"  # the .obs column the groups came from
N_SPECIFIC = "n_specific"  # list of K_m, one per group, same order as GROUPS
ETA_SHARED = "eta_shared"
ETA_SPECIFIC = "eta_specific"
HISTORY = "history"
SETTINGS = "settings"
VERSIONS = "versions"
RUNTIME = "runtime"  # device, resolved precision and why, CPU threads, batch size
GENE_SET_THRESHOLD = "gene_set_threshold"  # per factor, the |W| above which its gene set and activity count a gene (io.results.gene_set_threshold)
STOPPING = "stopping"  # epochs and steps run, why the fit ended, whether W was still dense
DISTRIBUTED = "distributed"  # the processes that trained the model: world_size (1: an ordinary fit) and backend ("none", "gloo", "nccl")
COVARIATES = "covariates"  # only with covariates: their encoding (names, kinds, columns, levels, center, scale)
STABILITY = "stability"  # only with several starts: per factor (W's column order) "stability", "median_jaccard", "jaccard" (factors x starts); and "min_jaccard" (analysis.stability)
STARTS = "starts"  # only with several starts: every start's "seed" and final loss ("objective"), and the "chosen" start's seed
COVARIATE_EFFECTS = "covariate_effects"  # only with covariates: beta, G x C, columns as COVARIATES["columns"]

# columns of the tables of fitted factors (MSSVAE.active_factors, R's activeFactors) and of the
# rankings of a group's genes and factors (analysis.ranking, R's rankGroupGenes/rankGroupFactors)
ACTIVE_FACTOR_COLUMNS = ["factor", "block", "n_genes", "max_abs_w", "eta", "top_genes"]
GENE_COLUMNS = ["gene", "score", "mean_log_lr", "frac_positive", "mean_full", "mean_shared", "log2_fold_change"]
STABILITY_COLUMNS = ["stability", "median_jaccard"]  # appended to ACTIVE_FACTOR_COLUMNS when the fit had several starts
FACTOR_COLUMNS = ["factor", "score", "mean_log_lr", "n_genes", "max_abs_w", "eta", "top_genes_w", "top_genes_lr"]

# ground truth written by mssvae.sim.simulate (read by mssvae.sim.metrics)
TRUE_W_SHARED = "true_W_shared"  # .varm, G x K_S
TRUE_W_SPECIFIC = "true_W_specific"  # .varm, G x sum(K_m), blocks in the order of SIM["groups"]
TRUE_Z_SHARED = "true_z_shared"  # .obsm
TRUE_Z_SPECIFIC = "true_z_specific"  # .obsm, own-group factors
SIM = "simulation"  # .uns entry: design, seed, sizes, groups, n_specific

# the support of a column of W: the features with |W| above this (App. C.1's metrics, the stopping rule)
DEFAULT_THRESHOLD = 0.03
"""Default cut-off on ``|W_hat|`` for an estimated entry to count as non-zero.

The truths are exactly zero off the support. Under the spike-and-slab lasso, Adam leaves spike
entries hovering at a noise floor, not at 0: over all entries of the fitted benchmark models
(Gaussian §4.1, NB §4.2 and Splatter), median |w| 0.001 and 90 % quantile 0.002-0.006, with
2-6 of the Gaussian fits' 4,500 entries between 0.03 and 0.1. 0.03 is the lowest round cut-off
clear of that floor. With the Lipschitz NB decoder, |w_jk| bounds factor k's effect on gene j's
log mean per unit of the latent, so weak true effects give small slab entries: Splatter's
log-fold changes (|N(0.1, 0.4^2)|) put its true loadings at 0.01-0.3, where a 0.1 cut-off drops
most of them, while the paper's §4 designs (loadings 8-12) score the same at 0.03, 0.1 and 0.5
(benchmarks/FINDINGS.md, "Support threshold: the noise floor of W"). The paper's 0.5 (§5) is a gene-set *selection*
rule for interpretation, close to the spike-and-slab inclusion boundary
log((1-eta) lambda_0 / (eta lambda_1)) / (lambda_0 - lambda_1) ~ 0.34-0.48 for eta in [0.1, 0.5].
Pass ``threshold=0.5`` to reproduce it.
"""
