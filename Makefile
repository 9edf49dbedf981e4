# mriunlearn: two commands do everything on a fresh machine.
#   make reproduce   set up .venv, build the embedded data, run notebooks 01-04 (papermill)
#   make test        set up .venv, build the embedded data, run unit tests + nbval regression tests
# Extra targets: make data | make lab | make bench [BENCH_ARGS=...] | make setup | make clean-runs

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The CPU wheel of torch 2.13.0 lies on this machine's disk; an unpinned torch would pull a multi-GB
# CUDA build. On a GPU machine, into .venv: make setup TORCH_INDEX=https://download.pytorch.org/whl/cu126
DEFAULT_TORCH_SPEC := torch==2.13.0
TORCH_SPEC ?= $(DEFAULT_TORCH_SPEC)
# a package index for torch alone (a CUDA or CPU wheel index); empty: the default index
TORCH_INDEX ?=
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
# which torch .venv was built with; pip keeps an installed torch==X whatever index is given later, so
# asking an existing .venv for another one stops (check-torch) instead of silently keeping the old one
TORCH_SOURCE := $(TORCH_SPEC)$(if $(TORCH_INDEX), from $(TORCH_INDEX))
TORCH_RECORD := $(VENV)/.torch-source

.PHONY: setup data reproduce test lab bench clean-runs check-torch

check-torch:
	@if [ -x $(PY) ]; then \
	  have="$$(cat $(TORCH_RECORD) 2>/dev/null || echo '$(DEFAULT_TORCH_SPEC)')"; \
	  if [ "$$have" != '$(TORCH_SOURCE)' ]; then \
	    echo "make: .venv holds $$have, not $(TORCH_SOURCE); pip would keep the installed torch." >&2; \
	    echo "      To switch: rm -rf $(VENV) && make setup TORCH_SPEC='$(TORCH_SPEC)' TORCH_INDEX='$(TORCH_INDEX)'" >&2; \
	    exit 2; \
	  fi; \
	fi

$(STAMP): pyproject.toml constraints.txt | check-torch
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	# fastmri 0.3.0 declares torchvision and pytorch-lightning, but its code never imports them, and
	# PyPI's torchvision fails to import beside the CPU torch wheel (and then breaks lightning too):
	# install it without dependencies; its real needs are in pyproject.toml.
	$(PIP) --no-deps fastmri==0.3.0
	$(PIP) "$(TORCH_SPEC)" -c constraints.txt -e ".[dev,lab]"
	echo '$(TORCH_SOURCE)' > $(TORCH_RECORD)
	touch $(STAMP)

setup: check-torch $(STAMP)

data: $(STAMP)
	$(PY) -m mriunlearn data

reproduce: data
	$(PY) -m mriunlearn.reproduce

test: data
	$(PY) -m pytest

lab: data
	$(VENV)/bin/jupyter lab notebooks/

bench: data
	$(PY) -m benchmarks $(BENCH_ARGS)

clean-runs:
	rm -rf runs/
