# Two commands on a fresh machine: `make demo` (main job on bundled data) and `make test`.
# Both create .venv with a Python 3.10 interpreter (lava-nc 0.10.0 needs 3.10 and numpy<2).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test venv lint bench clean

demo: $(STAMP)
	$(PY) -m scripts.cli demo

test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q $(PYTEST_ARGS)

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml .ci/find_python310
	@set -e; if [ ! -x $(PY) ]; then \
	  PY310=$$(sh .ci/find_python310); \
	  echo "creating $(VENV) with $$PY310"; \
	  $$PY310 -m venv $(VENV); \
	fi
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all]"
	@# lava-dl 0.6.0 (netx reader for `hwlearn export --to netx --verify`) pins torch<2.4, torchvision
	@# 0.18, pytest<8 and pillow<11, which would replace what [all] installed: install it without its
	@# dependencies; [all] brings those its import needs (torchvision, opencv-python-headless<4.11, ...)
	$(PY) -m pip install -q --no-deps "lava-dl==0.6.0"
	@touch $(STAMP)

bench: $(STAMP)
	$(PY) scripts/bench_training.py --json runs/bench_training.json
	$(PY) scripts/bench_sim.py --json runs/bench_sim.json
	$(PY) scripts/bench_learning.py --json runs/bench_learning.json

clean:
	rm -rf $(VENV) build *.egg-info
