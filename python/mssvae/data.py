"""Input checking and minibatch access for the MSSVAE.

Every check names the problem, where it is, and what to do. Sparse matrices stay sparse:
rows are densified one minibatch at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch


class MSSVAEInputError(ValueError):
    """Input the model cannot use; the message says what is wrong and how to fix it."""


def _as_matrix(X):
    if sp.issparse(X):
        return sp.csr_matrix(X, dtype=np.float32)
    return np.asarray(X, dtype=np.float32)


def get_matrix(adata, layer: str | None):
    """The samples × features matrix of ``adata`` (``.X`` or a layer), dense or CSR."""
    if layer is None:
        if adata.X is None:
            raise MSSVAEInputError(
                "the AnnData has no .X; pass layer= with one of: " + (", ".join(adata.layers.keys()) or "(no layers)")
            )
        return _as_matrix(adata.X)
    if layer not in adata.layers:
        raise MSSVAEInputError(
            f"layer {layer!r} not found; available layers: " + (", ".join(adata.layers.keys()) or "(none; use .X with layer=None)")
        )
    return _as_matrix(adata.layers[layer])


def get_groups(adata, group_key: str) -> np.ndarray:
    """The group label of each sample, from ``adata.obs[group_key]``."""
    if group_key not in adata.obs.columns:
        raise MSSVAEInputError(
            f"group key {group_key!r} is not a column of obs; available columns: "
            + (", ".join(map(str, adata.obs.columns)) or "(none)")
        )
    return adata.obs[group_key].reset_index(drop=True)  # a Series keeps a categorical's order


def encode_groups(groups, n_samples: int, known: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Integer codes for the group labels, in the order of ``known`` or sorted (pandas categories
    keep their own order)."""
    groups = pd.Series(groups)
    if len(groups) != n_samples:
        raise MSSVAEInputError(f"got {len(groups)} group labels for {n_samples} samples; give one label per sample")
    if groups.isna().any():
        first = int(np.flatnonzero(groups.isna().to_numpy())[0])
        raise MSSVAEInputError(f"{int(groups.isna().sum())} samples have no group label (first: sample {first})")
    labels = groups.astype(str)
    if known is None and "shared" in set(labels):
        raise MSSVAEInputError("'shared' is reserved for the shared factors (shared_1, ...); rename that group")
    if known is None:
        order = list(groups.cat.categories.astype(str)) if isinstance(groups.dtype, pd.CategoricalDtype) else sorted(labels.unique())
        order = [o for o in order if o in set(labels)]
    else:
        order = list(known)
        unknown = sorted(set(labels) - set(order))
        if unknown:
            raise MSSVAEInputError(
                f"groups {unknown} were not seen in training; the model knows: {order}"
            )
    codes = pd.Categorical(labels, categories=order).codes.astype(np.int64)
    return codes, order


def _values(X) -> np.ndarray:
    return X.data if sp.issparse(X) else X.ravel()


def _first_location(X, bad_values_mask_fn, obs_names, var_names) -> str:
    if sp.issparse(X):
        coo = X.tocoo()
        k = int(np.flatnonzero(bad_values_mask_fn(coo.data))[0])
        i, j = coo.row[k], coo.col[k]
    else:
        i, j = np.argwhere(bad_values_mask_fn(X))[0]
    return f"sample {obs_names[i]!r} (row {i}), feature {var_names[j]!r} (column {j})"


def check_values(X, likelihood: str, obs_names, var_names) -> None:
    """Refuse NaN/inf anywhere, and negative or non-integer values for the NB model."""
    vals = _values(X)
    n_bad = int((~np.isfinite(vals)).sum())
    if n_bad:
        where = _first_location(X, lambda v: ~np.isfinite(v), obs_names, var_names)
        raise MSSVAEInputError(
            f"the data hold {n_bad} NaN or infinite values (first at {where}); remove or impute them before fitting"
        )
    if likelihood != "nb":
        return
    for name, bad in (("negative", lambda v: v < 0), ("non-integer", lambda v: v != np.round(v))):
        n_bad = int(bad(vals).sum())
        if n_bad:
            where = _first_location(X, bad, obs_names, var_names)
            raise MSSVAEInputError(
                f"the negative binomial model needs counts, but the data hold {n_bad} {name} values "
                f"(first at {where}); pass the raw counts layer (layer=...) or use likelihood='gaussian'"
            )


def check_groups(codes: np.ndarray, labels: list[str]) -> None:
    sizes = np.bincount(codes, minlength=len(labels))
    small = [f"{labels[m]!r} ({n})" for m, n in enumerate(sizes) if n < 2]
    if small:
        raise MSSVAEInputError(
            "every group needs at least 2 samples; too small: " + ", ".join(small) + ". Merge or drop these groups"
        )


def row_blocks(X, rows: int = 2048):
    """``(start, block)`` over blocks of rows of a dense or CSR matrix, each block dense float64.

    Every start statistic is computed from these blocks, so a sparse matrix and its dense copy
    give bit-identical starts (and fits), in float64, with memory bounded by one block.
    """
    for start in range(0, X.shape[0], rows):
        block = X[start:start + rows]
        yield start, (block.toarray() if sp.issparse(block) else np.asarray(block)).astype(np.float64)


def column_moments(X, transform=None) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and (population) variance in float64, two passes over row blocks;
    ``transform``: a function applied to each dense float64 block first (row-wise only)."""
    n = X.shape[0]
    transform = transform or (lambda b: b)
    mean = sum(transform(b).sum(0) for _, b in row_blocks(X)) / n
    var = sum(((transform(b) - mean) ** 2).sum(0) for _, b in row_blocks(X)) / n
    return mean, var


def library_sizes(X) -> np.ndarray:
    """Per-sample totals (Σ_j x_ij) in float64."""
    return np.concatenate([b.sum(1) for _, b in row_blocks(X)]) if X.shape[0] else np.zeros(0)


@dataclass
class Batches:
    """Rows of a (dense or CSR) matrix with their group codes, served as float32 tensors;
    ``S``: the encoded covariates (samples × C, ``mssvae.covariates``) or None."""

    X: object
    codes: np.ndarray
    device: torch.device
    S: np.ndarray | None = None

    def __post_init__(self):
        # Dense data live on the device once; sparse rows are densified per minibatch on the
        # host and copied from pinned memory without waiting (CUDA).
        self._dense = None if sp.issparse(self.X) else torch.as_tensor(self.X, device=self.device)
        self._codes = torch.as_tensor(self.codes, device=self.device)
        self._S = None if self.S is None else torch.as_tensor(np.asarray(self.S, dtype=np.float32), device=self.device)
        self._pin = self.device.type == "cuda"

    def __len__(self) -> int:
        return self.X.shape[0]

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        if self._pin:
            return t.pin_memory().to(self.device, non_blocking=True)
        return t.to(self.device)

    def to_device(self, idx: torch.Tensor) -> torch.Tensor:
        """Row indices (on the host) where :meth:`get` reads them: on the device for dense
        data, on the host for sparse data (rows are sliced there)."""
        return self._to_device(idx) if self._dense is not None else idx

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Rows ``idx``: data, group codes and encoded covariates (None without covariates)."""
        if self._dense is not None:
            idx = idx.to(self.device)
            x = self._dense[idx]
        else:
            host = idx.cpu()
            x = self._to_device(torch.from_numpy(self.X[host.numpy()].toarray()))
            idx = self._to_device(host)
        s = None if self._S is None else self._S[idx]
        return x, self._codes[idx], s

    def sequential(self, batch_size: int):
        """All rows in order, in minibatches (for inference)."""
        for start in range(0, len(self), batch_size):
            yield self.get(torch.arange(start, min(start + batch_size, len(self))))
