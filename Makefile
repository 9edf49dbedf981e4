# mriunlearn: two commands do everything on a fresh machine.
#   make reproduce   set up .venv, build the embedded data, run notebooks 01-04 (papermill)
#                    (COLD=1: train G and Ĝ too instead of taking the published base models)
#   make test        set up .venv, build the embedded data, run unit tests + nbval regression tests
# Extra targets: make test-fast | make data | make lab | make bench [BENCH_ARGS=...] | make setup | make clean-runs
#
# Conda (or any environment you activate yourself) instead of .venv: give every target PY=python.
#   conda env create -f environment.yml && conda activate mriunlearn
#   make setup-env PY=python        # fastmri without its unused dependencies, then this package
#   make reproduce PY=python        # (or test, data, lab, bench): no .venv is created or used
# environment.yml is generated from the pins below and in constraints.txt: make environment.yml

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
# the interpreter every target runs; the default is .venv's, built on demand
PY := $(VENV_PY)
STAMP := $(VENV)/.installed
FASTMRI_SPEC := fastmri==0.3.0
# The CPU wheel of torch 2.13.0 lies on this machine's disk; an unpinned torch would pull a multi-GB
# CUDA build. On a GPU machine, into .venv: make setup TORCH_INDEX=https://download.pytorch.org/whl/cu126
DEFAULT_TORCH_SPEC := torch==2.13.0
TORCH_SPEC ?= $(DEFAULT_TORCH_SPEC)
# a package index for torch alone (a CUDA or CPU wheel index); empty: the default index
TORCH_INDEX ?=
PIP := $(VENV_PY) -m pip install --quiet --disable-pip-version-check
# which torch .venv was built with; pip keeps an installed torch==X whatever index is given later, so
# asking an existing .venv for another one stops (check-torch) instead of silently keeping the old one
TORCH_SOURCE := $(TORCH_SPEC)$(if $(TORCH_INDEX), from $(TORCH_INDEX))
TORCH_RECORD := $(VENV)/.torch-source

.PHONY: setup setup-env check-env data reproduce test test-fast lab bench clean-runs check-torch

# what a target needs before it runs: .venv built (default), or the given PY checked
ifeq ($(PY),$(VENV_PY))
ENV_READY := $(STAMP)
else
ENV_READY := check-env
endif

check-torch:
	@if [ -x $(VENV_PY) ]; then \
	  have="$$(cat $(TORCH_RECORD) 2>/dev/null || echo '$(DEFAULT_TORCH_SPEC)')"; \
	  if [ "$$have" != '$(TORCH_SOURCE)' ]; then \
	    echo "make: .venv holds $$have, not $(TORCH_SOURCE); pip would keep the installed torch." >&2; \
	    echo "      To switch: rm -rf $(VENV) && make setup TORCH_SPEC='$(TORCH_SPEC)' TORCH_INDEX='$(TORCH_INDEX)'" >&2; \
	    exit 2; \
	  fi; \
	fi

$(STAMP): pyproject.toml constraints.txt | check-torch
	test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	# fastmri 0.3.0 declares torchvision and pytorch-lightning, but its code never imports them, and
	# PyPI's torchvision fails to import beside the CPU torch wheel (and then breaks lightning too):
	# install it without dependencies; its real needs are in pyproject.toml.
	$(PIP) --no-deps $(FASTMRI_SPEC)
	$(PIP) "$(TORCH_SPEC)" -c constraints.txt -e ".[dev,lab]"
	echo '$(TORCH_SOURCE)' > $(TORCH_RECORD)
	touch $(STAMP)

setup: check-torch $(STAMP)

# the same installs as .venv's, into the environment of PY (e.g. an activated conda environment)
setup-env:
ifeq ($(PY),$(VENV_PY))
	$(error setup-env installs into the environment of PY; give it, e.g. make setup-env PY=python)
endif
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(FASTMRI_SPEC)
	$(PY) -m pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)" -c constraints.txt -e ".[dev,lab]"

check-env:
	@$(PY) -c "import torch, fastmri, mriunlearn" 2>/dev/null || { \
	  echo "make: $(PY) cannot import torch, fastmri and mriunlearn; run: make setup-env PY=$(PY)" >&2; exit 2; }

environment.yml: pyproject.toml constraints.txt Makefile tools/environment_yml.py
	$(PYTHON) tools/environment_yml.py > $@

data: $(ENV_READY)
	$(PY) -m mriunlearn data

# G and Ĝ of the default come from the published base models in models/ when their keys match
# (mriunlearn.base_models); COLD=1 ignores them and trains every model (make reproduce COLD=1)
reproduce: data
	$(if $(filter 1,$(COLD)),MRIUNLEARN_BASE_MODELS=off )$(PY) -m mriunlearn.reproduce

test: data
	$(PY) -m pytest

# the quick lane: the unit tests in tests/ without those marked slow (torchrun ranks, the whole
# workflow); no notebooks, no embedded data needed. `make test` still runs everything.
test-fast: $(ENV_READY)
	$(PY) -m pytest -m "not slow" tests

lab: data
	$(PY) -m jupyterlab notebooks/

bench: data
	$(PY) -m benchmarks $(BENCH_ARGS)

clean-runs:
	rm -rf runs/
