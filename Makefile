# Every target creates or reuses the project's own virtual environment (.venv);
# nothing has to be installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint type unit check soak run simulate bench bench-store bench-audit bench-scale bench-claim bench-input clean browser screenshots

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
	$(BIN)/mypy --strict tools/verify_audit.py bench/audit_verify.py bench/scale_out.py bench/pg_claim.py bench/input.py bench/wire.py bench/peer_queue.py

unit: $(STAMP) browser
	$(BIN)/pytest

# The console's browser test needs Debian's chromium (Playwright drives it; its own browser
# download cannot work here). Installed with apt-get when missing and running as root;
# elsewhere the test says how to install it (and fails in CI rather than skip).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: apt-get install chromium (the console test needs it)"; fi; }

# Refresh the console screenshots the README shows (docs/console-*.png).
screenshots: $(STAMP) browser
	DVCGW_SCREENSHOTS=docs $(BIN)/pytest -q tests/integration/test_console_browser.py -k operator

# The README's test command: lint, strict typing and the whole pytest suite.
test: lint type unit

check: test

# The delivery matrix at full size: 3,200 records and 8 SIGKILLs per road x engine.
soak: $(STAMP)
	DVCGW_SOAK=1 $(BIN)/pytest tests/integration/test_delivery_matrix.py -s

# The gateway beside its limits (bench/wire.py, about 5 minutes here; README "Performance").
# The [bench] extra brings procrastinate, the peer it is compared with; if it cannot be
# installed the bench still runs and its table says why that row is missing.
$(VENV)/.bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]' || echo "the [bench] extra did not install: the procrastinate row will say so"
	touch $(VENV)/.bench

bench: $(STAMP) $(VENV)/.bench
	$(BIN)/python bench/wire.py

# The store engines alone (accept, claim+complete, delivery in-process) against raw INSERTs.
bench-store: $(STAMP)
	$(BIN)/python bench/delivery.py

bench-audit: $(STAMP)
	$(BIN)/python bench/audit_verify.py

bench-scale: $(STAMP)
	$(BIN)/python bench/scale_out.py

bench-claim: $(STAMP)
	$(BIN)/python bench/pg_claim.py

bench-input: $(STAMP)
	$(BIN)/python bench/input.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache var
