# Three environments: .venv trains and exports (TensorFlow); the two a device gets, with no
# TensorFlow, prove the runtime needs nothing more: .venv-runtime (LiteRT, onnxruntime, numpy 2)
# and .venv-tflite (tflite-runtime, onnxruntime, numpy < 2; tflite-runtime has wheels for
# Python <= 3.11 only, so it is skipped on newer Pythons).
PYTHON ?= python3
VENV := .venv
RUNTIME_VENV := .venv-runtime
TFLITE_VENV := .venv-tflite
PIP_FLAGS := --quiet --disable-pip-version-check
HAS_TFLITE_WHEELS := $(shell $(PYTHON) -c 'import sys; print(int(sys.version_info < (3, 12)))')

.PHONY: install demo test lint clean

install: $(VENV)/.installed $(RUNTIME_VENV)/.installed
ifeq ($(HAS_TFLITE_WHEELS),1)
install: $(TFLITE_VENV)/.installed
endif

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -e ".[train,runtime,dev]"
	touch $@

$(RUNTIME_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/pip install $(PIP_FLAGS) -e ".[runtime]"
	touch $@

$(TFLITE_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TFLITE_VENV)
	$(TFLITE_VENV)/bin/pip install $(PIP_FLAGS) -e ".[runtime-tflite]"
	touch $@

demo: install
	$(VENV)/bin/edgeae demo --out edgeae-demo --overwrite

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

test: install lint
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) $(RUNTIME_VENV) $(TFLITE_VENV) edgeae-demo .pytest_cache
