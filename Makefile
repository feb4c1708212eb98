# mobilerepro — the interface. `make help` lists the targets.
# Every target creates the environment first (a venv in .venv with the pinned set); that step is
# skipped while requirements.txt, constraints.txt and pyproject.toml are unchanged.

SHELL      := /bin/bash
PYTHON     ?= python3.11
VENV       ?= .venv
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed
# The detection/segmentation stack: never a prerequisite of the classification chapters.
DENSE_STAMP := $(VENV)/.dense-installed
# LiteRT (the NAS papers' runtime) cannot share .venv (requirements-litert.txt says why): a second environment that
# the `litert` backends drive; never a prerequisite of the classification chapters either.
LITERT_VENV  ?= .venv-litert
LITERT_STAMP := $(LITERT_VENV)/.installed
PROFILE    ?= quick
ARGS       ?=
PYTEST_ARGS ?=
# The suite runs on two pytest-xdist workers of one thread each; every smoke run goes to one of them (loadgroup),
# which runs them two at a time while the other takes the rest. TEST_WORKERS=0: one process. pytest stays below 9.2,
# whose structured node ids drop the group suffix xdist 3.8's loadgroup schedules by (pytest-xdist issue 1386), so
# that both workers would run every smoke run.
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup
# Nothing may download weights or data at run time.
export HF_HUB_OFFLINE := 1
export PYTHONUNBUFFERED := 1
# Datasets: DATA=/path/to/datasets (short for MOBILEREPRO_DATA); by default the team's small real sets when they
# sit beside the checkout (../shared/data), else ./data.
ifdef DATA
export MOBILEREPRO_DATA := $(DATA)
endif
export MOBILEREPRO_DATA ?= $(firstword $(wildcard $(CURDIR)/../shared/data) $(CURDIR)/data)
# The distillation chapters at full scale: TEACHER=/path/to/checkpoint (a timm model's weights) TEACHER_MODEL=<timm name>.
ifdef TEACHER
export MOBILEREPRO_TEACHER := $(TEACHER)
endif
ifdef TEACHER_MODEL
export MOBILEREPRO_TEACHER_MODEL := $(TEACHER_MODEL)
endif

.DEFAULT_GOAL := help
# `replicate-<chapter>` is a pattern rule (not .PHONY: make skips implicit rules for phony targets).
.PHONY: help setup dense-setup litert-setup data replicate-all lesson book publish test test-fast lint lock clean

help: ## list the targets
	@echo "mobilerepro — replicate efficient mobile backbone papers on your hardware"
	@echo
	@echo "usage: make <target> [PROFILE=smoke|quick|full] [DATA=/path/to/datasets] [ARGS='-p name value ...']"
	@echo "       distillation at full scale: TEACHER=/path/to/checkpoint TEACHER_MODEL=<timm model name>"
	@echo
	@echo "chapters (one per paper table; the list comes from the experiment registry):"
	@if [ -f $(STAMP) ]; then $(PY) -m mobilerepro experiments --make-help; \
	 else echo "  replicate-<chapter>        e.g. replicate-table1; run 'make setup' once to list every chapter here"; fi
	@echo
	@echo "everything else:"
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  %-26s %s\n", $$1, $$2}'
	@echo
	@echo "PROFILE=$(PROFILE)  (smoke: seconds, used by tests; quick: minutes on a laptop CPU; full: the paper protocol)"

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or pass PYTHON=/path/to/python3.11" >&2; exit 1; }
	@echo ">> creating the environment in $(VENV) (pinned set from requirements.txt + constraints.txt)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	@touch $(STAMP)

setup: $(STAMP) ## create the venv with the pinned set (skipped when nothing changed)

$(DENSE_STAMP): $(STAMP) requirements-dense.txt requirements-build.txt
	@echo ">> installing the detection/segmentation stack (mmcv is built from source once per machine)"
	$(PY) -m mobilerepro.stack
	@touch $(DENSE_STAMP)

dense-setup: $(DENSE_STAMP) ## mmcv (built once per machine, cached), mmdet, mmseg: the dense chapters and tests need them

$(LITERT_STAMP): requirements-litert.txt constraints-litert.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or pass PYTHON=/path/to/python3.11" >&2; exit 1; }
	@echo ">> creating the LiteRT environment in $(LITERT_VENV) (pinned set from requirements-litert.txt + constraints-litert.txt)"
	@test -x $(LITERT_VENV)/bin/python || $(PYTHON) -m venv $(LITERT_VENV)
	$(LITERT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LITERT_VENV)/bin/python -m pip install --quiet -r requirements-litert.txt -c constraints-litert.txt
	$(LITERT_VENV)/bin/python -m pip check
	@touch $(LITERT_STAMP)

litert-setup: $(LITERT_STAMP) ## LiteRT (TFLite runtime) in its own environment, .venv-litert: the NAS chapters need it, others add its columns when it is there

data: $(STAMP) ## prepare datasets: [DATASET="cifar10 imagenet ..."] [SOURCE=folder with the archives or your copy]
	$(PY) -m mobilerepro data $(DATASET) $(if $(SOURCE),--source $(SOURCE))

# A chapter built on mmdet/mmseg (its experiment says `needs_dense_stack`) gets the dense stack first; one whose
# claims are about LiteRT (`needs_litert_stack`) gets the LiteRT environment. Any other chapter waits for neither.
replicate-%: $(STAMP)
	@if $(PY) -m mobilerepro experiments --needs-dense-stack $* 2>/dev/null; then $(MAKE) --no-print-directory dense-setup; fi
	@if $(PY) -m mobilerepro experiments --needs-litert-stack $* 2>/dev/null; then $(MAKE) --no-print-directory litert-setup; fi
	$(PY) -m mobilerepro replicate $* --profile $(PROFILE) $(ARGS)

replicate-all: $(STAMP) $(DENSE_STAMP) ## every chapter, in book order (one that fails is reported, the others still run; one already run with this chapter code is skipped, ARGS=--rerun runs it again)
	$(PY) -m mobilerepro replicate-all --profile $(PROFILE) $(ARGS)

lesson: $(STAMP) ## prepare this laptop for lesson LESSON=N of the course: its stacks, then what data it lacks and its time here
	@test -n "$(LESSON)" || { echo "usage: make lesson LESSON=N (the lessons: the book's Course page)"; exit 2; }
	@for target in $$($(PY) -m mobilerepro lesson $(LESSON) --setup-targets); do $(MAKE) --no-print-directory $$target || exit 1; done
	$(PY) -m mobilerepro lesson $(LESSON)

book: $(STAMP) ## render the Jupyter Book: the chapters run here, the committed reference run for the rest, a command page for any other
	$(PY) -m mobilerepro book

publish: $(STAMP) ## the book as a static site in site/ (links checked; pages opened in headless Chromium when installed)
	$(PY) -m mobilerepro publish --output site

test: $(STAMP) $(DENSE_STAMP) ## run the test suite (installs the dense stack first when missing)
	$(PYTEST) $(PYTEST_ARGS)

test-fast: $(STAMP) $(DENSE_STAMP) ## the tests that run no notebook end to end: the edit loop
	$(PYTEST) -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff over src, tests and benchmarks
	$(VENV)/bin/ruff check src tests benchmarks

lock: ## regenerate constraints.txt from requirements.txt in a scratch venv
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r requirements.txt
	( echo "# Full resolved environment (generated by 'make lock' from requirements.txt; do not edit by hand)."; \
	  .lock-venv/bin/pip freeze --exclude-editable | grep -v '^mobilerepro' ) > constraints.txt
	rm -rf .lock-venv

clean: ## remove generated results, executed chapters and the built book (keeps the venv)
	rm -rf results/*/ book/_build book/chapters book/_toc.yml book/claims.md
