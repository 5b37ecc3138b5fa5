# vibmag developer tasks. `make demo` and `make test` set everything up on a
# fresh machine (a virtual environment in .venv) and are the README's Quickstart.
VENV ?= .venv
PY := $(VENV)/bin/python
# PyTorch, installed before vibmag when the environment has no torch. When PyTorch's
# CPU wheel index (TORCH_INDEX) answers within 5 s, torch comes from there, so pip
# never pulls the multi-GB CUDA packages; when it does not (an offline machine, a
# private mirror), TORCH_SPEC comes from pip's configured index, as any package does.
# Your own build: a spec, a wheel file or a URL, and another index or none:
#   make TORCH_SPEC=torch TORCH_INDEX=https://download.pytorch.org/whl/cu124 setup
#   make TORCH_SPEC=/path/to/torch.whl TORCH_INDEX= setup
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
EXTRAS ?= dev,docs,dask,bench,train,napari

.PHONY: setup demo test test-slow docs bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@if $(PY) -c "import torch" 2>/dev/null; then \
		echo "torch is already installed: $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	elif [ -n "$(TORCH_INDEX)" ] && $(PY) -c "import urllib.request; urllib.request.urlopen('$(TORCH_INDEX)/', timeout=5)" 2>/dev/null; then \
		echo "Installing $(TORCH_SPEC) from $(TORCH_INDEX)"; \
		$(PY) -m pip install --quiet --index-url "$(TORCH_INDEX)" "$(TORCH_SPEC)" \
			|| { echo "Not found there: installing $(TORCH_SPEC) from pip's configured index"; \
			     $(PY) -m pip install --quiet "$(TORCH_SPEC)"; }; \
	else \
		echo "Installing $(TORCH_SPEC) from pip's configured index ($(or $(TORCH_INDEX),no TORCH_INDEX) not reachable or not set)"; \
		$(PY) -m pip install --quiet "$(TORCH_SPEC)"; \
	fi
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

demo: setup
	$(VENV)/bin/vibmag demo --output vibmag-demo --overwrite

test: setup
	$(PY) -m pytest

test-slow: setup
	$(PY) -m pytest -m slow

# The benchmarks of docs/benchmarks.md, in one run. pyidi (compared in the flow and pyidi benchmarks) is installed
# without its own dependencies: it asks for opencv-contrib-python, which clashes with the headless OpenCV here.
bench: setup
	$(PY) -m pip install --quiet --no-deps pyidi==1.4.0 atpbar cine-handler mantichora==0.9.7
	$(PY) -m pip install --quiet numba rich qtpy
	$(PY) -m pip install --quiet --no-deps eulerian-magnification==0.22
	$(PY) benchmarks/open_large.py --size-gb 20
	$(PY) benchmarks/flow_accuracy.py
	$(PY) benchmarks/pyidi_comparison.py
	$(PY) benchmarks/subpixel_bias.py
	$(PY) benchmarks/classical_baselines.py
	mkdir -p runs && (git show c78bf9e:vibmag/models/flowmag.pt > runs/flowmag_previous.pt 2>/dev/null || true)
	$(PY) benchmarks/magnification_quality.py --control-weights docs/training/flowmag_same_noise.pt \
		--images-weights vibmag/models/flowmag_images.pt $$(test -s runs/flowmag_previous.pt && echo --previous-weights runs/flowmag_previous.pt) \
		--training-logs docs/training/flowmag_log.csv docs/training/flowmag_same_noise_log.csv
	$(PY) benchmarks/pipeline.py
	$(PY) benchmarks/batch.py

docs: setup
	$(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) vibmag-demo site .pytest_cache .hypothesis
