"""mssvae: the multi-study sparse variational autoencoder (Moran & Krishnan, 2026)."""

__version__ = "0.1.0"
