# course-lstm. `make lab` opens the course; `make test` runs every test.
# Both first create .venv and install the pinned environment (pyproject.toml + constraints.txt).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The tests' tensors are small: one CPU thread is as fast, and far faster on a busy machine.
TEST_ENV := COURSE_LSTM_PROFILE=ci OMP_NUM_THREADS=1
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: setup lab test test-unit test-notebooks notebooks clean

$(INSTALLED): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else f"course-lstm needs Python 3.11, but $(PYTHON) is {v[0]}.{v[1]}: run make PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[course,test]"
	touch $@

setup: $(INSTALLED)  ## create .venv with everything pinned

lab: $(INSTALLED)  ## open JupyterLab on the course notebooks
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) notebooks

test: $(INSTALLED)  ## unit tests and every notebook under nbval, in the ci profile
	$(TEST_ENV) $(BIN)/python -m pytest tests notebooks $(NBVAL)

test-unit: $(INSTALLED)  ## unit tests only
	$(TEST_ENV) $(BIN)/python -m pytest tests

test-notebooks: $(INSTALLED)  ## notebooks only, under strict nbval
	$(TEST_ENV) $(BIN)/python -m pytest notebooks $(NBVAL)

notebooks: $(INSTALLED)  ## re-execute notebooks/*.py (ci profile) into .ipynb with outputs
	$(BIN)/python tools/execute_notebooks.py $(NB)

clean:
	rm -rf $(VENV) .hypothesis *.egg-info
