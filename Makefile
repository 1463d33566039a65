# spatialgamm: every target sets itself up first (scripts/setup.sh is quick when all is there).
#   make demo       install what is missing, then fit the Rongelap map (PNG + GeoTIFF in outputs/)
#   make test       install what is missing, then run the whole test suite
#   make test-fast  the same without the tests marked slow
#   make test-study the long Bayesian studies (MCMC against brms, SBC, coverage; tens of minutes)
#   make lint       ruff
#   make bench      benchmarks against the R peers (installs R from Debian unless NO_R=1)
PYTHON ?= python3
export PYTHON
export MPLBACKEND ?= Agg

.PHONY: setup setup-r demo test test-fast test-study lint bench bench-quick clean

setup:
	@bash scripts/setup.sh

setup-r:
	@bash scripts/setup_r.sh

demo: setup
	@mkdir -p outputs
	@if [ -f examples/rongelap_map.py ]; then $(PYTHON) examples/rongelap_map.py; \
	elif [ -f examples/sleepstudy.py ]; then $(PYTHON) examples/sleepstudy.py; \
	else echo "demo: no examples/rongelap_map.py or examples/sleepstudy.py yet" >&2; exit 1; fi

# pytest exits 5 when it collects no test: that is not a failure of the code.
test: setup
	@$(PYTHON) -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; rc=0; fi; exit $$rc

test-fast: setup
	@$(PYTHON) -m pytest -q -m "not slow and not study"; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

test-study: setup
	@$(PYTHON) -m pytest -q -m study; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

lint: setup
	@$(PYTHON) -m ruff check .

bench: setup $(if $(NO_R),,setup-r)
	$(PYTHON) benchmarks/run_all.py $(if $(NO_R),--no-r,)

bench-quick: setup
	$(PYTHON) benchmarks/run_all.py --quick $(if $(NO_R),--no-r,)

clean:
	rm -rf build/ dist/ *.egg-info .pytest_cache .ruff_cache benchmarks/_data
