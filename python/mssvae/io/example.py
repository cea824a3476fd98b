"""The shipped example: 700 PBMCs (10x Genomics, annotated cell types), raw counts of 765 genes,
with the cell type and lineage of each cell (built by ``data-raw/``)."""

from __future__ import annotations

from importlib import resources

import anndata


def example_data():
    """The shipped PBMC example as AnnData (counts in X; obs: cell_type, lineage)."""
    with resources.as_file(resources.files("mssvae") / "data" / "pbmc_demo.h5ad") as path:
        return anndata.read_h5ad(path)
