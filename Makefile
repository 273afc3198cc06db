# Every target creates or reuses the project's own virtual environment (.venv);
# nothing has to be installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint type unit check soak run simulate bench bench-audit bench-scale bench-claim clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/dvc-gateway demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

type: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --strict tools/verify_audit.py bench/audit_verify.py bench/scale_out.py bench/pg_claim.py

unit: $(STAMP)
	$(BIN)/pytest

# The README's test command: lint, strict typing and the whole pytest suite.
test: lint type unit

check: test

# The delivery matrix at full size: 3,200 records and 8 SIGKILLs per road x engine.
soak: $(STAMP)
	DVCGW_SOAK=1 $(BIN)/pytest tests/integration/test_delivery_matrix.py -s

bench: $(STAMP)
	$(BIN)/python bench/delivery.py

bench-audit: $(STAMP)
	$(BIN)/python bench/audit_verify.py

bench-scale: $(STAMP)
	$(BIN)/python bench/scale_out.py

bench-claim: $(STAMP)
	$(BIN)/python bench/pg_claim.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache var
