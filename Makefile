# Two front doors: `make demo` (set up, then fit the shipped example) and `make test`
# (set up, then run every test). Both install what is missing on a fresh Debian machine.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export DEBIAN_FRONTEND := noninteractive

# R from Debian (no CRAN/Bioconductor needed); rpy2 builds against it, so it comes first.
DEB_PACKAGES := r-base-dev r-cran-reticulate r-bioc-singlecellexperiment r-bioc-summarizedexperiment \
	r-bioc-s4vectors r-cran-matrix r-cran-ggplot2 r-cran-patchwork r-cran-testthat r-cran-knitr \
	r-cran-rmarkdown r-cran-roxygen2 pandoc r-bioc-org.hs.eg.db r-bioc-go.db r-bioc-annotationdbi r-cran-cli

.PHONY: setup system-deps python-deps demo test test-python clean

setup: system-deps python-deps

system-deps:
	@dpkg -s $(DEB_PACKAGES) >/dev/null 2>&1 || { \
		echo "Installing Debian packages: $(DEB_PACKAGES)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $(DEB_PACKAGES); }

python-deps: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch==2.13.0 is the CPU wheel on these machines; an unpinned torch pulls a CUDA build.
	$(PY) -m pip install -q -e ".[r,test]"
	# rpy2 3.6 needs a newer R than Debian's; remove leftovers of its split packages.
	$(PY) -m pip uninstall -q -y rpy2-rinterface rpy2-robjects 2>/dev/null || true
	touch $@

demo: setup
	$(VENV)/bin/mssvae demo --out-dir mssvae_demo

test: setup test-python

test-python:
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) mssvae_demo .pytest_cache
