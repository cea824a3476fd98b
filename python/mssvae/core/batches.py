"""Minibatch access to the training data: rows of a dense or CSR matrix as tensors on the
device, sparse rows densified one minibatch at a time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch


@dataclass
class Batches:
    """Rows of a matrix (dense or CSR in memory, or any object whose ``X[rows]`` reads those rows,
    such as :class:`mssvae.io.ondisk.H5Rows`) with their group codes, served as float32 tensors;
    ``S``: the encoded covariates (samples × C, ``mssvae.io.covariates``) or None."""

    X: object
    codes: np.ndarray
    device: torch.device
    S: np.ndarray | None = None

    def __post_init__(self):
        # Dense data in memory live on the device once; sparse rows, and rows read from disk, are
        # densified per minibatch on the host and copied from pinned memory without waiting (CUDA).
        self._dense = torch.as_tensor(self.X, device=self.device) if isinstance(self.X, np.ndarray) else None
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
            rows = self.X[host.numpy()]
            rows = rows.toarray() if sp.issparse(rows) else np.asarray(rows, dtype=np.float32)
            x = self._to_device(torch.from_numpy(rows))
            idx = self._to_device(host)
        s = None if self._S is None else self._S[idx]
        return x, self._codes[idx], s

    def sequential(self, batch_size: int):
        """All rows in order, in minibatches (for inference)."""
        for start in range(0, len(self), batch_size):
            yield self.get(torch.arange(start, min(start + batch_size, len(self))))
