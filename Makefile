# Set-up is part of every target: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The PyTorch build to install; elsewhere `make demo TORCH=torch` takes your platform's newest.
TORCH ?= torch==2.13.0
OUT := demo-output

.PHONY: install demo test lint benchmark clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python -m painterly.samples $(OUT)
	$(BIN)/painterly $(OUT)/content.jpg $(OUT)/style.png -o $(OUT)/stylized.png --log $(OUT)/history.json
	@echo "demo: see $(OUT)/stylized.png"

lint: install
	$(BIN)/ruff check painterly tests benchmarks
	$(BIN)/mypy painterly

test: lint
	$(BIN)/python -m pytest -q

# painterly vs a plain reference loop: table on stdout, JSON in benchmark-results/.
# `make benchmark BENCHMARK_ARGS=--quick` for a smoke run of a minute or two.
BENCHMARK_ARGS ?=
benchmark: install
	$(BIN)/python -m benchmarks $(BENCHMARK_ARGS)

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
