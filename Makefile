# The two commands of the README. `make run` sets up a fresh machine, ingests corpus/
# and answers a sample question; `make test` runs the default (offline) test suite.
PY := .venv/bin/python
QUESTION ?= How much has Alibaba committed to AI and cloud infrastructure over three years?

.PHONY: setup run test lint ui serve bench clean

.venv/.installed: pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test,eval]"
	touch $@

setup: .venv/.installed

run: setup
	.venv/bin/rag ingest corpus/
	.venv/bin/rag ask "$(QUESTION)"

ui: setup
	.venv/bin/rag ui

serve: setup
	.venv/bin/rag serve

bench: setup
	.venv/bin/rag bench --out out/bench

test: setup
	$(PY) -m pytest -q

# ruff, the import-linter layer contracts and mypy (config in pyproject.toml); any finding fails
lint: setup
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/mypy

clean:
	rm -rf .rag out
