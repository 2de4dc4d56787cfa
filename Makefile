# Everything goes through uv and the lock file; `python3 -m uv` works right after `pip install uv`
# even where pip's script directory is not on PATH.
VENV := .venv
UV := python3 -m uv
BIN := $(VENV)/bin

.PHONY: install demo up test check lint typecheck clean

$(VENV)/.installed: pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

install: $(VENV)/.installed  ## create the virtualenv from the lock file

demo: install  ## start the embedded stack, run five payments, check the ledger, stop
	$(BIN)/saga demo

up: install  ## start the embedded stack until Ctrl-C
	$(BIN)/saga up

test: install  ## unit, workflow (time-skipping) and integration (real stack) tests
	$(BIN)/pytest

check: lint typecheck  ## what CI checks besides the tests

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .saga .pytest_cache .mypy_cache .ruff_cache
