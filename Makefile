# hashattack: `make demo` and `make test` each set up everything they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATASET := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: demo test venv dataset clean

$(BIN)/hashattack: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/hashattack

venv: $(BIN)/hashattack

dataset:
	@test -f $(DATASET) || { \
	  echo "installing the embedded dataset (Debian package dataset-fashion-mnist)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist; }

demo: venv dataset
	$(BIN)/hashattack demo $(DEMO_ARGS)

test: venv
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs build src/*.egg-info
