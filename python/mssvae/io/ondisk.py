"""Matrices that stay on disk: the rows of an ``.h5ad`` file's X or layer, stored as CSR or
dense, read on demand in blocks or minibatches, so that the whole matrix is never loaded.

Every reader of the data (start statistics, input checks, minibatches, ``transform``) goes
through ``X[start:stop]`` or ``X[rows]``, which return a scipy CSR matrix (CSR on disk) or a
dense array (dense on disk) of those rows only.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse as sp
from anndata.io import write_elem

from ..errors import MSSVAEInputError


class H5Rows:
    """The rows of matrix ``key`` (``"X"`` or ``"layers/<name>"``) of the ``.h5ad`` file at
    ``path``, optionally restricted to the columns of a boolean mask ``columns``."""

    def __init__(self, path: str, key: str = "X", columns: np.ndarray | None = None):
        self.path, self.key = str(path), key
        self._file = h5py.File(self.path, "r")
        if key not in self._file:
            raise MSSVAEInputError(f"{self.path} has no {key!r}")
        node = self._file[key]
        if isinstance(node, h5py.Dataset):
            self._dense, (n, g) = node, node.shape
        else:
            encoding = node.attrs.get("encoding-type", "")
            if encoding != "csr_matrix":
                raise MSSVAEInputError(
                    f"{key} of {self.path} is stored as {encoding or 'an unknown type'}, whose rows cannot be read in "
                    "blocks", hint="rewrite it as CSR (scipy .tocsr()) or dense")
            self._dense = None
            self._data, self._indices = node["data"], node["indices"]
            self._indptr = np.asarray(node["indptr"][:], dtype=np.int64)  # N + 1 offsets: small
            n, g = (int(v) for v in node.attrs["shape"])
        self._g_full = int(g)
        self._columns = None if columns is None else np.asarray(columns, dtype=bool)
        self.shape = (int(n), int(g if self._columns is None else self._columns.sum()))
        self.dtype = np.dtype(np.float32)

    def __repr__(self) -> str:
        kind = "dense" if self._dense is not None else "CSR"
        return f"H5Rows({self.path!r}, {self.key!r}, {kind}, shape={self.shape})"

    def __len__(self) -> int:
        return self.shape[0]

    def with_columns(self, mask: np.ndarray) -> "H5Rows":
        """The same rows restricted to the columns of ``mask`` (over the current columns)."""
        current = np.arange(self._g_full) if self._columns is None else np.flatnonzero(self._columns)
        keep = np.zeros(self._g_full, dtype=bool)
        keep[current[np.asarray(mask, dtype=bool)]] = True
        return H5Rows(self.path, self.key, keep)

    def __getitem__(self, rows):
        if isinstance(rows, slice):
            start, stop, step = rows.indices(self.shape[0])
            if step != 1:
                raise IndexError("H5Rows reads contiguous row blocks or lists of rows")
            return self._read_block(start, stop)
        rows = np.asarray(rows, dtype=np.int64).ravel()
        unique, inverse = np.unique(rows, return_inverse=True)  # h5py reads increasing rows
        out = self._read_rows(unique)
        return out if np.array_equal(unique, rows) else out[inverse]

    # ----- reading ------------------------------------------------------------------------------
    def _read_block(self, start: int, stop: int):
        if self._dense is not None:
            return self._cols(np.asarray(self._dense[start:stop], dtype=np.float32))
        lo, hi = self._indptr[start], self._indptr[stop]
        indptr = self._indptr[start:stop + 1] - lo
        m = sp.csr_matrix((np.asarray(self._data[lo:hi], dtype=np.float32), np.asarray(self._indices[lo:hi]), indptr),
                          shape=(stop - start, self._g_full))
        return self._cols(m)

    def _read_rows(self, rows: np.ndarray):
        if self._dense is not None:
            return self._cols(np.asarray(self._dense[rows], dtype=np.float32)) if len(rows) else \
                np.zeros((0, self.shape[1]), np.float32)
        # runs of consecutive rows are read as one slice each
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        data, indices, lengths = [], [], []
        for run in np.split(rows, breaks) if len(rows) else []:
            lo, hi = self._indptr[run[0]], self._indptr[run[-1] + 1]
            data.append(np.asarray(self._data[lo:hi], dtype=np.float32))
            indices.append(np.asarray(self._indices[lo:hi]))
            lengths.append(np.diff(self._indptr[run[0]:run[-1] + 2]))
        lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        m = sp.csr_matrix((np.concatenate(data) if data else np.zeros(0, np.float32),
                           np.concatenate(indices) if indices else np.zeros(0, np.int32), indptr),
                          shape=(len(rows), self._g_full))
        return self._cols(m)

    def _cols(self, m):
        return m if self._columns is None else m[:, self._columns]


def on_disk(X) -> bool:
    """Whether ``X`` is read from disk on demand (its rows are not all in memory)."""
    return isinstance(X, H5Rows)


def backed_rows(adata, layer: str | None) -> H5Rows | None:
    """The on-disk rows of a backed AnnData's X (``anndata.read_h5ad(path, backed="r")``), or
    None when ``adata`` is in memory or ``layer`` is given (anndata loads layers into memory)."""
    if not getattr(adata, "isbacked", False) or layer is not None:
        return None
    return H5Rows(str(adata.filename), "X")


#: ``mssvae fit`` reads its input backed (rows from disk) when the file is larger than this
#: fraction of the memory available when it starts.
BACKED_FRACTION = 0.25


def available_memory() -> int:
    """Bytes of memory available to a new process (Linux ``MemAvailable``; else all of it)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def read_backed_by_size(path: str | Path, processes: int = 1) -> bool:
    """Whether to read ``path`` backed: when it is larger than ``BACKED_FRACTION`` of the
    memory available now, shared by the ``processes`` of a data-parallel fit on this machine
    (each would load the whole file)."""
    return Path(path).stat().st_size > BACKED_FRACTION * available_memory() / max(1, processes)


def _check_not_source(adata, path: Path) -> None:
    if getattr(adata, "isbacked", False) and path.resolve() == Path(adata.filename).resolve():
        raise MSSVAEInputError(f"{path} is the file the data are read from (read-only)",
                               hint="write the results to another file")


def write_backed(adata, path: str | Path, keys: dict[str, list[str]]) -> Path:
    """Write a backed AnnData with new entries to ``path`` without loading its matrix: the
    backing file is copied, then the entries named in ``keys`` (``{"varm": [...], "obsm":
    [...], "uns": [...]}``) are written into the copy from ``adata``."""
    path = Path(path)
    source = Path(adata.filename).resolve()
    _check_not_source(adata, path)
    shutil.copyfile(source, path)
    with h5py.File(path, "r+") as f:
        for part, names in keys.items():
            group = f.require_group(part)
            for name in names:
                if name in group:
                    del group[name]
                write_elem(group, name, getattr(adata, part)[name])
    return path


def write_whole(adata, path: str | Path, keys: dict[str, list[str]]) -> Path:
    """Write ``adata`` to ``path`` (a backed one as :func:`write_backed` does) so that ``path``
    is either absent or complete: the file is written under a temporary name in the same
    folder and renamed, so a process that dies while writing leaves no half-written file."""
    path = Path(path)
    _check_not_source(adata, path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial.h5ad")
    try:
        if getattr(adata, "isbacked", False):
            write_backed(adata, tmp, keys)
        else:
            adata.write_h5ad(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
