# course-lstm. `make lab` opens the course; `make test` runs every test.
# Both first create .venv and install the pinned environment (pyproject.toml + constraints.txt).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The tests' tensors are small: one CPU thread is as fast, and far faster on a busy machine.
TEST_ENV := COURSE_LSTM_PROFILE=ci OMP_NUM_THREADS=1
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
# pytest-xdist: one worker per core, each taking whole files (a notebook's cells share one kernel)
PARALLEL := -n auto --dist loadfile
# The portability matrix's hardware settings (tools/portability.py lists them)
SETTINGS ?= default,sse41,avx2,threads2
# Extra pip install options; offline from `make wheelhouse`: PIP_OPTIONS="--no-index --find-links wheelhouse"
PIP_OPTIONS ?=
# 3.11.5 or newer: a pinned dependency (soupsieve) needs it.
CHECK_PYTHON := $(PYTHON) -c 'import sys; v = sys.version_info[:3]; sys.exit(0 if v[:2] == (3, 11) and v[2] >= 5 else f"course-lstm needs Python 3.11.5 or a later 3.11, but $(PYTHON) is {v[0]}.{v[1]}.{v[2]}: run make PYTHON=/path/to/python3.11")'
PROFILE ?= ci

.PHONY: setup lab test test-unit test-notebooks test-portability test-browser lint format notebooks student course wheelhouse clean

$(INSTALLED): pyproject.toml constraints.txt
	@$(CHECK_PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_OPTIONS) --quiet --disable-pip-version-check -c constraints.txt -e ".[course,test]"
	touch $@

setup: $(INSTALLED)  ## create .venv with everything pinned

lab: $(INSTALLED)  ## open JupyterLab on the course notebooks
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) notebooks

test: $(INSTALLED)  ## unit tests and every notebook under nbval, in the ci profile
	$(TEST_ENV) $(BIN)/python -m pytest $(PARALLEL) tests notebooks $(NBVAL)

test-unit: $(INSTALLED)  ## unit tests only
	$(TEST_ENV) $(BIN)/python -m pytest $(PARALLEL) tests

test-notebooks: $(INSTALLED)  ## notebooks only, under strict nbval
	$(TEST_ENV) $(BIN)/python -m pytest $(PARALLEL) notebooks $(NBVAL)

lint: $(INSTALLED)  ## ruff (format check and lint) and mypy on the package
	$(BIN)/ruff format --check course_lstm tests tools
	$(BIN)/ruff check course_lstm tests tools
	$(BIN)/mypy

format: $(INSTALLED)  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format course_lstm tests tools
	$(BIN)/ruff check --fix course_lstm tests tools

# Strict nbval of every notebook as if on other CPUs (instruction sets, threads); assert margins
# in _build/portability/margins.md. One setting: make test-portability SETTINGS=sse41
test-portability: $(INSTALLED)  ## every notebook under strict nbval in each hardware setting
	$(BIN)/python -m tools.portability --settings $(SETTINGS) --out _build/portability

# Installs Debian's chromium (apt-get) and playwright-core (npm ci) when missing.
BROWSER_SHOTS ?= _build/browser
test-browser: $(INSTALLED)  ## the site's equations offline and the explorers in JupyterLab, in headless Chromium; screenshots in _build/browser/
	tests/browser/run.sh $(BIN) $(BROWSER_SHOTS)

notebooks: $(INSTALLED)  ## re-execute notebooks/*.py (ci profile) into .ipynb with outputs
	$(BIN)/python -m tools.execute_notebooks $(NB)

student: $(INSTALLED)  ## student copies of the notebooks, solutions stubbed out, into student/
	$(BIN)/python -m course_lstm student

course: $(INSTALLED)  ## execute every notebook in PROFILE (default ci) and build the HTML course into _build/
	$(BIN)/python -m tools.build_course --profile $(PROFILE) --out _build

# Wheels of every pinned package (and setuptools, which builds course_lstm) for this OS, CPU and
# Python 3.11: build it on a machine like the learners' laptops. WHEELHOUSE_OPTIONS adds pip options,
# e.g. "--extra-index-url https://download.pytorch.org/whl/cpu" for the CPU-only torch.
wheelhouse: constraints.txt  ## wheels of every pinned package into wheelhouse/, for offline installs
	@$(CHECK_PYTHON)
	$(PYTHON) -m pip download --disable-pip-version-check --dest wheelhouse --only-binary=:all: \
		$(WHEELHOUSE_OPTIONS) -r constraints.txt "setuptools>=68"

clean:
	rm -rf $(VENV) .hypothesis *.egg-info
