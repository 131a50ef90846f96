# Two entry points: `make demo` and `make test`. Each sets up what it needs, once:
# the virtualenv and Python packages, Cairo, NLTK's data and the clip-art library.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out/embedded
DEBIAN_PACKAGES := libcairo2
# torch/torchvision: these releases lie on this machine's disk; any other downloads gigabytes.
TORCH := torch==2.14.1 torchvision==0.29.1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export FIFTYONE_DO_NOT_TRACK := true
export PYTHONUNBUFFERED := 1

.PHONY: demo test bench setup debian library clean

demo: setup
	$(PY) -m datasets.build --source embedded --out $(OUT)
	$(PY) -m datasets.licenses --manifest $(OUT)/manifest.jsonl

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) benchmarks/match_bench.py
	$(PY) benchmarks/render_bench.py

setup: debian $(VENV)/.nltk-data library

# Checked every time (dpkg -s is instant), so a removed package is noticed.
debian:
	@dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1 || { \
	  echo "installing Debian packages: $(DEBIAN_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PACKAGES); }

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(TORCH) -e '.[test]'
	@touch $@

# npm and Debian clip-art packages into ~/.cache/drawnet/clipart ($$DRAWNET_CLIPART); a
# no-op once there. apt-get download needs package lists: fetch them if it fails.
library: $(VENV)/.installed
	@$(PY) -m scraping.library --install || { \
	  $(SUDO) apt-get update -qq; $(PY) -m scraping.library --install; }

$(VENV)/.nltk-data: $(VENV)/.installed
	$(PY) -m datasets.lexicon --install
	@touch $@

clean:
	rm -rf out .pytest_cache
