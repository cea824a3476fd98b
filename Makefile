# Front doors: `make demo` (set up, then fit the shipped example), `make test-fast` (set up, then
# the Python and R test suites once each, with their durations: the loop to run after a change)
# and `make test` (set up, then every test and check). All install what is missing on a fresh
# Debian machine.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export DEBIAN_FRONTEND := noninteractive

# R from Debian (no CRAN/Bioconductor needed); rpy2 builds against it, so it comes first.
DEB_PACKAGES := r-base-dev r-cran-reticulate r-bioc-singlecellexperiment r-bioc-summarizedexperiment \
	r-bioc-s4vectors r-cran-matrix r-cran-ggplot2 r-cran-patchwork r-cran-testthat r-cran-knitr \
	r-cran-rmarkdown r-cran-roxygen2 pandoc r-bioc-org.hs.eg.db r-bioc-go.db r-bioc-annotationdbi r-cran-cli \
	r-cran-withr r-bioc-biocparallel r-bioc-bioccheck r-bioc-biocstyle r-bioc-hdf5array

.PHONY: setup system-deps python-deps demo test test-fast test-python clean r-deps r-install test-r \
	vignettes r-build r-check bioccheck test-r-install-path

setup: system-deps python-deps

system-deps:
	@dpkg -s $(DEB_PACKAGES) >/dev/null 2>&1 || { \
		echo "Installing Debian packages: $(DEB_PACKAGES)"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends $(DEB_PACKAGES); }

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

# Each suite runs once. test-fast runs pytest and testthat (with the Python core, against the
# package r-install installed from r-package/); the rest check what those cannot: the tarball, its
# vignette, the package as R CMD check and BiocCheck see it, and the R-only install path. Why one
# R CMD check, without Python, is enough: see r-check.
test-fast: setup r-install test-python test-r

test: test-fast vignettes r-check bioccheck test-r-install-path

# --durations: the slowest tests, so that a slow one is seen where it is added.
test-python:
	$(PY) -m pytest -q --durations=15 tests

clean:
	rm -rf $(VENV) mssvae_demo .pytest_cache out/r-check

# ----- R package (r-package/) and vignettes ------------------------------------------------
# r-install records the absolute path of the venv's Python in the installed package
# (r-package/inst/python.dcf, gitignored), so library(mssvae) finds its Python core with no
# configuration; options(mssvae.python=) or MSSVAE_PYTHON override it.
R_PKG_FILES := $(shell find r-package -type f ! -path 'r-package/inst/python.dcf' 2>/dev/null)
VIGNETTE_OUT := out/vignettes

r-deps: system-deps

# The R library is shared by every checkout on the machine: reinstall when the installed
# package points to another checkout's Python.
r-install: setup
	@installed=$$(Rscript -e 'f <- system.file("python.dcf", package = "mssvae"); if (nzchar(f)) cat(read.dcf(f)[1, "Python"])' 2>/dev/null); \
		[ "$$installed" = "$(abspath $(PY))" ] || rm -f .stamp-r-install
	@$(MAKE) --no-print-directory .stamp-r-install

.stamp-r-install: $(R_PKG_FILES) $(VENV)/.installed pyproject.toml
	@py_v=$$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml); r_v=$$(sed -n 's/^Version: //p' r-package/DESCRIPTION); \
		[ "$$py_v" = "$$r_v" ] || { echo "version mismatch: pyproject.toml $$py_v, r-package/DESCRIPTION $$r_v; make them equal"; exit 1; }
	@mkdir -p r-package/inst
	printf 'Python: %s\nRepository: %s\n' "$(abspath $(PY))" "$(CURDIR)" > r-package/inst/python.dcf
	@lib=$$(Rscript -e 'cat(.libPaths()[1])'); \
		if [ ! -w "$$lib" ]; then lib=$$(Rscript -e 'cat(path.expand(Sys.getenv("R_LIBS_USER")))'); mkdir -p "$$lib"; fi; \
		echo "R CMD INSTALL r-package -> $$lib"; R CMD INSTALL --no-multiarch -l "$$lib" r-package >/dev/null
	touch $@

# testthat, then the seconds per test file and the slowest tests (tests/testthat-timed.R); the help
# pages' examples run here with Python as tests (test-examples.R).
test-r: r-install
	Rscript tests/testthat-timed.R

# The R vignette is knitted by `R CMD build` (r-build) into the tarball's inst/doc, and copied to
# out/vignettes; its clusterProfiler chunk is run against a stand-in clusterProfiler (not in
# Debian) that finds nothing, then one term; the Python vignette runs here.
vignettes: r-build
	@mkdir -p $(VIGNETTE_OUT)
	tar -xzf $(R_TARBALL) -C $(VIGNETTE_OUT) --strip-components=3 mssvae/inst/doc/mssvae.html
	Rscript tests/vignette-clusterprofiler-chunk.R
	$(PY) vignettes/mssvae_python.py --out-dir $(VIGNETTE_OUT)/python

# ----- Bioconductor checks on the built tarball (out/r-check) -------------------------------
# r-package/vignettes/mssvae.Rmd is a symlink to vignettes/mssvae.Rmd (one source); R CMD build
# stores the file itself in the tarball and knits it with the checkout's Python.
# The checks see no Python but the one named here: MSSVAE_PYTHON for R CMD build and BiocCheck,
# and for R CMD check and the R-only install path, no MSSVAE_PYTHON / RETICULATE_PYTHON and empty
# R_USER_* folders (no record of an installMSSVAE() made elsewhere). clusterProfiler (Suggests) is
# not packaged in Debian.
R_VERSION := $(shell sed -n 's/^Version: //p' r-package/DESCRIPTION)
R_CHECK_DIR := out/r-check
R_TARBALL := $(R_CHECK_DIR)/mssvae_$(R_VERSION).tar.gz
WITH_PY := env MSSVAE_PYTHON=$(abspath $(PY)) _R_CHECK_FORCE_SUGGESTS_=false
NO_PY = env -u MSSVAE_PYTHON -u RETICULATE_PYTHON R_USER_CONFIG_DIR=$$tmp/config \
	R_USER_DATA_DIR=$$tmp/data _R_CHECK_FORCE_SUGGESTS_=false
# Fails on ERROR or WARNING in a check log's Status line (R CMD check exits 0 on WARNING).
CHECK_STATUS = grep -H '^Status:' $(1) && ! grep -Eq '^Status:.*(ERROR|WARNING)' $(1)

r-build: $(R_TARBALL)

# The vignette in the tarball is knitted with the checkout's Python core: a change to it builds
# the tarball again, so that the vignette's fit runs on the code under test.
PY_CORE_FILES := $(shell find python/mssvae -type f -name '*.py' 2>/dev/null)
$(R_TARBALL): $(R_PKG_FILES) vignettes/mssvae.Rmd $(VENV)/.installed $(PY_CORE_FILES)
	@mkdir -p $(R_CHECK_DIR)
	cd $(R_CHECK_DIR) && $(WITH_PY) R CMD build ../../r-package

# One R CMD check of the tarball, as an R user who has not set up the Python core (no
# installMSSVAE()) sees it: the package installs and loads, its code and Rd pages pass the static
# checks, the examples and the tests run with those that need Python skipping with a message (the
# check fails when they did not skip: a Python was found), and the vignette is knitted again with
# its code shown unevaluated. What a second check with Python would add is checked elsewhere:
# - the static checks (DESCRIPTION, NAMESPACE, code, Rd, install) do not depend on Python;
# - the tests with Python run in test-r, on the same sources (the tarball leaves out only
#   inst/python.dcf and .gitignore, r-package/.Rbuildignore);
# - the examples with Python run in test-r as tests (test-examples.R);
# - the vignette's code with Python ran when r-build knitted it into the tarball (R CMD check
#   does not run a knitr vignette's code again: "running R code from vignettes ... NONE").
r-check: $(R_TARBALL)
	rm -rf $(R_CHECK_DIR)/no-python && mkdir -p $(R_CHECK_DIR)/no-python
	cd $(R_CHECK_DIR) && tmp=$$(mktemp -d) && $(NO_PY) R CMD check --no-manual \
		-o no-python $(notdir $(R_TARBALL)) > no-python/check.out 2>&1 || \
		{ tail -50 no-python/check.out; exit 1; }
	@$(call CHECK_STATUS,$(R_CHECK_DIR)/no-python/mssvae.Rcheck/00check.log)
	@rout=$(R_CHECK_DIR)/no-python/mssvae.Rcheck/tests/testthat.Rout; \
		grep -h -A3 'Python core is not set up' $$rout || \
		{ echo "R CMD check without Python: no test skipped for want of Python ($$rout)"; exit 1; }

# BiocCheck 1.34 (Debian) with the checks that need a Bioconductor or CRAN host switched off.
# Its version-number check asks BiocManager which Bioconductor is release and which devel;
# tests/bioconductor-config.yaml answers for R 4.2 without the network (bioconductor.org/config.yaml).
bioccheck: $(R_TARBALL)
	cd $(R_CHECK_DIR) && $(WITH_PY) BIOCONDUCTOR_CONFIG_FILE=$(abspath tests/bioconductor-config.yaml) \
		Rscript ../../tests/bioccheck.R $(notdir $(R_TARBALL)) > bioccheck.out 2>&1 || \
		{ cat bioccheck.out; exit 1; }
	@grep -E '^BiocCheck:|\* (NOTE|WARNING|ERROR)' $(R_CHECK_DIR)/bioccheck.out

# The R-only install path: the tarball into an empty library, installMSSVAE() with this checkout
# as source into a temporary virtual environment, a tiny fit (tests/r-install-path.R).
test-r-install-path: $(R_TARBALL)
	tmp=$$(mktemp -d) && mkdir -p $$tmp/lib && \
		R CMD INSTALL --no-multiarch -l $$tmp/lib $(R_TARBALL) > $$tmp/install.log 2>&1 && \
		$(NO_PY) R_LIBS=$$tmp/lib:$$R_LIBS Rscript tests/r-install-path.R $(CURDIR) $$tmp \
			"$$($(PYTHON) -c 'import sys; print(sys.executable)')" && \
		rm -rf $$tmp
