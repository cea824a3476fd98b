"""Data in and results out: input checks and group labels (``inputs``), covariates
(``covariates``), the results contract in AnnData (``results``) and the shipped example
(``example``)."""
