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

.PHONY: setup system-deps python-deps demo test test-python clean r-deps r-install test-r vignettes

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

test: setup r-install test-python test-r vignettes

test-python:
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) mssvae_demo .pytest_cache

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

test-r: r-install
	Rscript -e 'testthat::test_dir("r-package/tests/testthat", package = "mssvae", load_package = "installed", stop_on_failure = TRUE)'

vignettes: r-install
	@mkdir -p $(VIGNETTE_OUT)
	Rscript -e 'rmarkdown::render("vignettes/mssvae.Rmd", output_dir = "$(VIGNETTE_OUT)", intermediates_dir = tempdir(), quiet = TRUE)'
	$(PY) vignettes/mssvae_python.py --out-dir $(VIGNETTE_OUT)/python
