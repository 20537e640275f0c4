# timebank: `make run` to serve, `make test` to check everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
WORKERS ?= 2
export FLASK_APP := timebank

.PHONY: run test test-sqlite test-postgresql install lint db demo clean messages bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The compiled catalogues are built from the .po sources, never committed.
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard timebank/translations/*/LC_MESSAGES/messages.po))
%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile -i $< -o $@

install: $(STAMP) $(CATALOGUES)

# Re-extract the strings and merge them into the catalogues (then translate the new ones).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
	  -o timebank/translations/messages.pot .
	$(BIN)/pybabel update -i timebank/translations/messages.pot -d timebank/translations \
	  --no-fuzzy-matching --ignore-obsolete

db: install
	mkdir -p instance
	$(BIN)/flask db upgrade
	$(BIN)/python -m timebank.seed_if_empty

run: db
	@echo "timebank on http://$(HOST):$(PORT) (gunicorn, $(WORKERS) workers)"
	$(BIN)/gunicorn --bind $(HOST):$(PORT) --workers $(WORKERS) --access-logfile - wsgi:app

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest --db=sqlite
	$(BIN)/pytest --db=postgresql

test-sqlite: install
	$(BIN)/pytest --db=sqlite

test-postgresql: install
	$(BIN)/pytest --db=postgresql

# The city-scale benchmark on its own PostgreSQL (BENCH_SCALE=small: 1/20 of it).
BENCH_SCALE ?= full
bench: install
	$(BIN)/python -m bench.run --scale $(BENCH_SCALE)

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) *.egg-info
