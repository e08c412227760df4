# The two entry points a newcomer needs (see README): `make run` and `make test`.
PYTHON ?= python3
PIP    ?= $(PYTHON) -m pip

.PHONY: run test install install-test bench-ref

install:
	$(PIP) install --quiet --disable-pip-version-check -e .

install-test:
	$(PIP) install --quiet --disable-pip-version-check -e '.[test]'

run: install
	otelflow --config examples/collector.yaml

# pytest exits 5 when it collected no test: that must fail, not pass quietly.
test: install-test
	$(PYTHON) -m pytest -q -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi; exit $$rc

bench-ref:
	$(MAKE) -C bench ref telemetrygen
