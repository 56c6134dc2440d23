# Set-up is part of every target: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The PyTorch build to install; elsewhere `make demo TORCH=torch` takes your platform's newest.
TORCH ?= torch==2.13.0
OUT := demo-output

.PHONY: install demo test lint benchmark clean serve browser

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[all,dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python -m painterly.samples $(OUT)
	$(BIN)/painterly $(OUT)/content.jpg $(OUT)/style.png -o $(OUT)/stylized.png --log $(OUT)/history.json
	@echo "demo: see $(OUT)/stylized.png"

lint: install
	$(BIN)/ruff check painterly tests benchmarks
	$(BIN)/mypy painterly

test: lint browser
	$(BIN)/python -m pytest -q

# The studio's browser test drives Debian's chromium (Playwright's own browser download is not used);
# installed here when missing and apt-get can (as root), else that test skips.
browser:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
		echo "note: chromium not installed; the studio's browser test will skip"

# The studio with the real default network: open the address it prints.
serve: install
	$(BIN)/painterly serve

# painterly vs a plain reference loop: table on stdout, JSON in benchmark-results/.
# `make benchmark BENCHMARK_ARGS=--quick` for a smoke run of a minute or two.
BENCHMARK_ARGS ?=
benchmark: install
	$(BIN)/python -m benchmarks $(BENCHMARK_ARGS)

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
