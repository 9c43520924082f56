# Two environments: .venv trains and exports (TensorFlow), .venv-runtime is what a device gets
# (numpy, OpenCV, LiteRT, onnxruntime; no TensorFlow) and proves the runtime needs nothing more.
PYTHON ?= python3
VENV := .venv
RUNTIME_VENV := .venv-runtime
PIP_FLAGS := --quiet --disable-pip-version-check

.PHONY: install demo test lint clean

install: $(VENV)/.installed $(RUNTIME_VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -e ".[train,runtime,dev]"
	touch $@

$(RUNTIME_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/pip install $(PIP_FLAGS) -e ".[runtime]"
	touch $@

demo: install
	$(VENV)/bin/edgeae demo --out edgeae-demo --overwrite

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

test: install lint
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) $(RUNTIME_VENV) edgeae-demo .pytest_cache
