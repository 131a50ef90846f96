# Two entry points: `make demo` and `make test`. Each sets up what it needs, once:
# the virtualenv and Python packages, Cairo, NLTK's data and the clip-art library.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out/embedded
# What a fresh Debian 12 lacks: Python's venv, Cairo (SVG rendering) and npm (the clip-art library's
# registry packages), unless an npm is already on the PATH (Node.js's own packages bring one);
# tests/test_setup.py checks this list against the programs the code runs.
DEBIAN_PACKAGES := python3 python3-venv libcairo2 $(if $(shell command -v npm),,npm)
# the browser test drives the FiftyOne App in Debian's chromium
TEST_DEBIAN_PACKAGES := chromium
# torch/torchvision: these releases lie on this machine's disk; any other downloads gigabytes.
TORCH := torch==2.14.1 torchvision==0.29.1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export FIFTYONE_DO_NOT_TRACK := true
export PYTHONUNBUFFERED := 1

.PHONY: demo test bench setup debian library clean

# The embedded library with a fixed sample of the files whose names match no class (the open pool, for
# evaluation.suggest), its features, and every name match checked against the picture (evaluation.verify).
OPEN_POOL ?= 1000
# the best backbone whose ImageNet weights ship offline (training/backbones.py DEFAULT_BACKBONE)
BACKBONE ?= efficientnet-lite1
FEATURES_ALL = $(OUT)/features-$(BACKBONE).h5
VERIFIED := $(OUT)-verified
# Subsets of the verified labels, measured: the thesis's rule (25 images a class, one-word names, common
# senses), and the curated set the App opens on: every verified class with 10 images or more, across the
# 26 styles, with the drawings verify rejected from those classes and $(OPEN_POOL) other unlabelled ones.
SUBSETS := thesis curated
SUBSET_ARGS_thesis := --min-images 25 --single-word --max-sense-rank 1
SUBSET_ARGS_curated := --min-images 10 --unlabelled $(OPEN_POOL)
# the curated set's pretrained SVM: the linear kernel alone (51 s against 169 s for the default rbf+linear grid
# on its 1,761 train rows x 103 classes, 2 busy cores; 1.0 point of top-1 below it): the demo stays under 15 minutes
SVM_ARGS_curated := --kernel linear
# The curation chain runs on the curated set, in FiftyOne's own database (or
# FIFTYONE_DATABASE_URI), and ends by serving the App; NO_APP=1 stops before it (CI).
DATASET ?= drawnet-demo
CURATED := $(OUT)-curated
FEATURES = $(CURATED)/features-$(BACKBONE).h5
SHORT = $(subst -,_,$(BACKBONE))
# The user's loop ends the demo: a short CPU fine-tune of the backbone on the curated set, in
# this folder's workspace (runs/), evaluated and written back; then the App opens on it.
FT_EPOCHS ?= 1
# the recipe that beat frozen features on the thesis subset (training/recipes.py)
FT_RECIPE ?= drawings
RUNS := $(or $(DRAWNET_WORKSPACE),.)/runs

demo: setup
	$(PY) -m datasets.build --source embedded --keep-unmatched --unmatched-limit $(OPEN_POOL) --out $(OUT) \
	  --table-rows 10
	$(PY) -m datasets.licenses --manifest $(OUT)/manifest.jsonl
	@# once for the whole library; a second run copies what it has (--reuse) and extracts only new images
	$(PY) -m evaluation.extract --manifest $(OUT)/manifest.jsonl --backbone $(BACKBONE) --out $(FEATURES_ALL) \
	  $$([ -e $(FEATURES_ALL) ] && echo --reuse $(FEATURES_ALL))
	$(PY) -m evaluation.verify --manifest $(OUT)/manifest.jsonl --features $(FEATURES_ALL) --out $(VERIFIED)
	$(PY) benchmarks/label_precision.py --verified $(VERIFIED)/manifest.jsonl
	@set -e; for s in $(SUBSETS); do \
	  case $$s in thesis) args="$(SUBSET_ARGS_thesis)"; svm="";; curated) args="$(SUBSET_ARGS_curated)"; \
	    svm="$(SVM_ARGS_curated)";; esac; \
	  echo "== $$s: $$args"; \
	  $(PY) -m datasets.subsets --manifest $(VERIFIED)/manifest.jsonl $$args --out $(OUT)-$$s --table-rows 10; \
	  $(PY) -m evaluation.extract --manifest $(OUT)-$$s/manifest.jsonl --backbone $(BACKBONE) \
	    --reuse $(FEATURES_ALL) --out $(OUT)-$$s/features-$(BACKBONE).h5; \
	  $(PY) -m evaluation.baseline --features $(OUT)-$$s/features-$(BACKBONE).h5 --out $(OUT)-$$s/results; \
	  $(PY) -m evaluation.svm --features $(OUT)-$$s/features-$(BACKBONE).h5 --out $(OUT)-$$s/results $$svm; \
	done
	$(PY) -m evaluation.report $(foreach s,$(SUBSETS),--results $(OUT)-$(s)/results)
	$(PY) -m evaluation.suggest --features $(FEATURES) --out $(CURATED)/suggest
	@# labels, suggestions and the label check's workload, measured on the judged fixture's holdout half
	$(PY) benchmarks/curation_quality.py --verified $(VERIFIED)/manifest.jsonl --dataset $(CURATED)/manifest.jsonl \
	  --suggest $(CURATED)/suggest
	@# the dataset becomes this folder's (the workspace's): the commands after it need no --dataset
	$(PY) -m curation.load --manifest $(CURATED)/manifest.jsonl --dataset $(DATASET)
	$(PY) -m curation.writeback --results $(CURATED)/results --method baseline --name baseline_$(SHORT)
	$(PY) -m curation.writeback --results $(CURATED)/results --method svm --name svm_$(SHORT) \
	  --compare baseline_$(SHORT)
	$(PY) -m curation.writeback --results $(CURATED)/suggest --method suggest
	$(PY) -m curation.embed --features $(FEATURES)
	$(PY) -m curation.hygiene --features $(FEATURES)
	@# the user's step 2 as typed, in this workspace: the curated dataset, evaluated and written back;
	@# a second `make demo` resumes the finished run (nothing to train) instead of starting another
	@run=$$(ls -d $(RUNS)/*-$(BACKBONE)-$(FT_RECIPE) 2>/dev/null | tail -1); \
	if [ -n "$$run" ] && [ -e "$$run/last.pt" ]; then set -x; $(PY) -m training.finetune --resume $$run; \
	else set -x; $(PY) -m training.finetune --backbone $(BACKBONE) --recipe $(FT_RECIPE) --epochs $(FT_EPOCHS) \
	  --batch-size 32 --device cpu; fi
	@echo; $(PY) -m curation.workload
	@printf '%s\n' "" "Your day, from here (in this folder, the workspace; first: . $(VENV)/bin/activate):" \
	  "  1. curate in the App:         drawnet app" \
	  "                                (saved views: \"label check\" with its Label check panel: a mapping at a time;" \
	  "                                 \"to review\", \"suggestions to review\")" \
	  "  2. train on the curation:     drawnet finetune --epochs 239" \
	  "                                (VGG-19, the thesis's model; offline weights: --backbone $(BACKBONE) --recipe $(FT_RECIPE))" \
	  "  3. browse per-class failures: drawnet app  (Model Evaluation panel, failures grid)" ""
	$(if $(NO_APP),@echo "NO_APP set: the App is not started (drawnet app)",\
	  $(PY) -m curation.app)

test: setup
	@$(MAKE) --no-print-directory debian DEBIAN_PACKAGES="$(TEST_DEBIAN_PACKAGES)"
	$(PY) -m pytest

bench: setup
	$(PY) benchmarks/match_bench.py
	$(PY) benchmarks/render_bench.py
	$(PY) benchmarks/extract_bench.py
	$(PY) benchmarks/embed_bench.py
	$(PY) benchmarks/load_bench.py
	$(PY) benchmarks/train_bench.py
	$(PY) benchmarks/crawl_bench.py
	$(PY) benchmarks/classify_bench.py
	$(PY) benchmarks/phash_bench.py
	@# every stage at 2000 and 6000 drawings (--samples 10000,30000,100000 for the issue's sizes)
	$(PY) benchmarks/scale_bench.py

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
