# Two front doors: `make demo` (the main job on the embedded default) and `make test` (what CI runs).
# Both work on a fresh machine: they create or reuse .venv, install torch==2.13.0 first (CPU build),
# then the package with its extras (which builds the JupyterLab panel).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.jupyter-deploy-installed
SHARED ?= ../shared
# most tests wait on kernels, servers and pip more than on the CPU: four workers on CI's two cores
PYTEST_ARGS ?= -n 4 --dist worksteal
# the labextension build (run by pip through hatch-jupyter-builder) calls jlpm from the venv
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install demo test lint bench chromium k8s image-base clean

$(STAMP): pyproject.toml package.json
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	rm -rf jupyter_deploy/labextension
	$(PIP) install -q -e '.[dev,all]'
	$(VENV)/bin/jupyter labextension develop --overwrite . >/dev/null
	touch $@

install: $(STAMP)

demo: install
	$(PY) examples/demo.py

# Chromium for the browser tests, from Debian's packages (test tools' own browser downloads fail here).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }

# A real kube-apiserver + etcd for the Kubernetes tests (built once, ~4 min, cached in ~/.cache/jd-k8s).
# The test session starts it in a temporary directory and stops it by PID.
k8s:
	@bash $(SHARED)/k8s/build-apiserver.sh >/dev/null

# The stand-in for python:3.11-slim that the image tests build the generated Dockerfiles from, made from
# Debian's packages with debootstrap and buildah (installed from Debian's packages if missing; once, about
# 2 minutes; cached in buildah's storage and ~/.cache/jd-images).
image-base:
	@bash tests/images/build-base.sh >/dev/null

# The image tests (tests/images) build and run one image after another in a pytest of their own, started first
# and running beside the rest (one at a time, the builds share their runtime and torch layers); their report
# comes after the rest's.
# tritonclient's gRPC stubs and KServe's define the same protobuf names ('inference.*'): they cannot share one
# process, so the gRPC tests run in a pytest of their own (before the image tests, beside the rest)
GRPC_TESTS := tests/integration/test_serve_grpc.py

test: install chromium k8s image-base
	$(VENV)/bin/ruff check jupyter_deploy tests benchmarks examples
	$(VENV)/bin/mypy
	@mkdir -p test-output
	@{ $(PY) -m pytest $(GRPC_TESTS) -n 0 -p no:randomly > test-output/grpc.log 2>&1; grpc=$$?; \
	  $(PY) -m pytest tests/images -n 0 -p no:randomly > test-output/images.log 2>&1; built=$$?; \
	  exit $$(( grpc != 0 || built != 0 )); } & apart=$$!; \
	trap 'kill $$apart 2>/dev/null' INT TERM; \
	$(PY) -m pytest $(PYTEST_ARGS) --ignore=tests/images --ignore=$(GRPC_TESTS); rest=$$?; \
	wait $$apart; separate=$$?; \
	echo "== the gRPC tests (test-output/grpc.log)"; cat test-output/grpc.log; \
	echo "== the image tests (test-output/images.log)"; cat test-output/images.log; \
	exit $$(( rest != 0 || separate != 0 ))

lint: install
	$(VENV)/bin/ruff check jupyter_deploy tests benchmarks examples
	$(VENV)/bin/ruff format --check jupyter_deploy tests benchmarks examples
	$(VENV)/bin/mypy
	$(VENV)/bin/jlpm run lint:check

bench: install
	$(PY) benchmarks/export.py
	$(PY) benchmarks/serve.py
	$(PY) benchmarks/retrain.py

clean:
	rm -rf .jd-demo test-output jupyter_deploy/labextension lib node_modules
