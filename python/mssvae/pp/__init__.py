"""Preprocessing of Moran & Krishnan, App. C.4: sample and gene filters and the genes of
largest Pearson-residual variance (:func:`prepare` runs them in order and records each step)."""

from .prepare import (
    DEFAULT_MIN_TOTAL,
    REPORT_KEY,
    filter_genes,
    filter_samples,
    format_report,
    highly_variable_pearson,
    pearson_residual_variances,
    prepare,
)

__all__ = ["DEFAULT_MIN_TOTAL", "REPORT_KEY", "filter_genes", "filter_samples", "format_report",
           "highly_variable_pearson", "pearson_residual_variances", "prepare"]
