"""Reading a fit: rankings of a group's genes and factors (``ranking``), the paper's failure
modes found from W's supports (``diagnostics``), their post-processing (``postprocess``) and
plots (``plotting``)."""
