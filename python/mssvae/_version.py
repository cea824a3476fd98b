"""The package's version, in a module of its own that imports nothing, so that any module can
read it without importing the root package."""

__version__ = "0.99.0"
