# The two commands a user needs: `make repro` and `make test`. Each sets itself up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# prints one list of [tool.dsta-bench] in pyproject.toml, so versions live in one place
TOOL := $(PY) -c "import sys, tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['tool']['dsta-bench'][sys.argv[1]]))"

.PHONY: install repro test bench clean-venv

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-runs only when pyproject.toml changes, so a second `make install` takes a moment.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip "setuptools<82" wheel
	$(PY) -m pip install --quiet $$($(TOOL) build-first)
	$(PY) -m pip install --quiet --no-build-isolation --no-binary xtcocotools $$($(TOOL) from-source)
	$(PY) -m pip install --quiet --no-build-isolation -e .
	$(PY) -m pip install --quiet --no-deps $$($(TOOL) no-deps)
	$(PY) -c "import torch, torchvision, timm, mmpose.codecs, mmpose.datasets.transforms, xtcocotools.mask, shapely, imagecorruptions; print('install ok: torch', torch.__version__)"
	touch $(STAMP)

# the stages run `python -m ...`: the venv must come first on PATH
RUN := PATH="$(CURDIR)/$(VENV)/bin:$$PATH"

repro: install
	$(RUN) dvc repro

# the import contracts, lint, format and types first (pyproject.toml [tool.importlinter], [tool.ruff], [tool.mypy])
test: install
	$(RUN) lint-imports
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) python -m pytest tests benchmarks --benchmark-disable -q -rs

bench: install
	$(RUN) python -m pytest benchmarks --benchmark-only --benchmark-json=benchmarks/results.json -rs

clean-venv:
	rm -rf $(VENV)
