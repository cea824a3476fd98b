"""Keys of the results contract shared by the Python core, the command line and the R package.

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
STOPPING = "stopping"  # epochs and steps run, why the fit ended, whether W was still dense
COVARIATES = "covariates"  # only with covariates: their encoding (names, kinds, columns, levels, center, scale)
COVARIATE_EFFECTS = "covariate_effects"  # only with covariates: beta, G x C, columns as COVARIATES["columns"]

# ground truth written by mssvae.simulate (read by mssvae.metrics)
TRUE_W_SHARED = "true_W_shared"  # .varm, G x K_S
TRUE_W_SPECIFIC = "true_W_specific"  # .varm, G x sum(K_m), blocks in the order of SIM["groups"]
TRUE_Z_SHARED = "true_z_shared"  # .obsm
TRUE_Z_SPECIFIC = "true_z_specific"  # .obsm, own-group factors
SIM = "simulation"  # .uns entry: design, seed, sizes, groups, n_specific
