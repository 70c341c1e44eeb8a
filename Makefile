# The one entry point for people and CI. Every target installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install tools demo test bench lint clean

install: $(STAMP) tools

$(STAMP): setup.cfg constraints.txt
	$(PYTHON) -m venv $(VENV) || { ./scripts/install-tools && $(PYTHON) -m venv $(VENV); }
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[test,dev]'
	touch $@

tools:
	./scripts/install-tools

demo: install
	$(PY) -m vnet.demo

# pytest exits 5 when it collected no test: that is a broken suite, not a pass.
test: install
	$(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest ran no test" >&2; exit 1; fi; \
	exit $$status

bench: install
	$(PY) -m bench

lint: install
	$(VENV)/bin/ruff check vnet services tests bench
	$(VENV)/bin/ruff format --check vnet services tests bench
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info
