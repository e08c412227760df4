# The two entry points a newcomer needs (see README): `make run` and `make test`.
# Everything installs into a virtual environment (.venv, made from the first python3 on PATH), so a
# system Python that refuses pip (PEP 668: Debian, Ubuntu) works like any other.
VENV   ?= .venv
PYTHON ?= $(abspath $(VENV))/bin/python
PIP    ?= $(PYTHON) -m pip

.PHONY: run test install install-test bench-ref ui venv

venv: $(VENV)/bin/python
$(VENV)/bin/python:
	bash scripts/make-venv.sh $(VENV)

# The web UI's bundle (ui/ -> src/otelflow/ui/static/), with npm; skipped when up to date.
ui:
	bash scripts/build-ui.sh

install: ui venv
	$(PIP) install --quiet --disable-pip-version-check -e .

# The test suite also needs a real Prometheus (Debian's package) for the exporter's integration test
# and Debian's Chromium for the UI's browser tests.
install-test: ui venv
	$(PIP) install --quiet --disable-pip-version-check -e '.[test]'
	bash scripts/install-prometheus.sh
	bash scripts/install-browser.sh
	PYTHON=$(PYTHON) bash scripts/install-fleet-deps.sh
	bash scripts/install-kafka.sh
	bash scripts/install-redis.sh
	bash scripts/install-nginx.sh
	bash scripts/install-influxdb.sh
	bash scripts/install-postgresql.sh
	bash scripts/build-fleet.sh
	bash scripts/build-jaeger.sh

run: install
	$(abspath $(VENV))/bin/otelflow

# pytest exits 5 when it collected no test: that must fail, not pass quietly.
test: install-test
	$(PYTHON) -m pytest -q -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi; exit $$rc

bench-ref:
	$(MAKE) -C bench ref telemetrygen

# --- conformance against the upstream collector, and the benchmark (see bench/README.md) -------
.PHONY: conformance record-goldens bench bench-quick fuzz

# Every case in tests/conformance/cases through otelcol-ref and otelflow, diffed (needs bench-ref).
conformance: install bench-ref
	$(PYTHON) bench/conformance.py run

# Rewrite the goldens (expected.jsonl, upstream.*.jsonl) from otelcol-ref.
record-goldens: install bench-ref
	$(PYTHON) bench/conformance.py record

# otelflow vs otelcol-ref vs rotel: traces, metrics, logs at a fixed rate and flat out (~8 min).
bench: install bench-ref
	$(PIP) install --quiet --disable-pip-version-check rotel==0.0.1a15
	$(PYTHON) bench/bench.py

# The traces scenarios only, short runs (under two minutes).
bench-quick: install bench-ref
	$(PIP) install --quiet --disable-pip-version-check rotel==0.0.1a15
	$(PYTHON) bench/bench.py --quick

# The OTTL pipeline (5 transform statements + a filter condition, bench/configs/ottl-traces.yaml):
# otelflow vs otelcol-ref on one core each, traces at a fixed rate and flat out.
.PHONY: bench-ottl
bench-ottl: install bench-ref
	$(PYTHON) bench/bench.py --seed bench/configs/ottl-traces.yaml --peers otelflow,otelcol-ref --scenarios traces-fixed,traces-max --no-baseline

# Worker processes: spans/s and CPU-s per million spans for 1 and 2 workers, and the cost of routing
# keyed data between them (bench/README.md, "Workers"); Kafka between two collectors ("Kafka").
.PHONY: bench-workers bench-kafka
bench-workers: install bench-ref
	$(PYTHON) bench/workers_bench.py --quick

bench-kafka: install-test bench-ref
	$(PYTHON) bench/kafka_bench.py --quick

# The C helpers for attribute actions and item counts against their Python references, longer and under ASan/UBSan (outside CI).
.PHONY: asan
asan: install-test
	bash tools/asan.sh _attrs tests/test_native_attrs.py
	bash tools/asan.sh _counts tests/test_native_metrics.py

# At least 1,000,000 fuzz inputs through the receiver's decoders and the config loader (docs/fuzzing.md).
fuzz: install
	$(PYTHON) bench/fuzz.py

# Each web UI page in headless Chromium on a 1,000,000-span store (docs/ui.md, "Speed on 1M spans").
.PHONY: bench-ui
bench-ui: install
	$(PYTHON) bench/ui_pages.py

# --- the example fleet (docs/fleet.md): python-api -> go-svc -> rust-svc, Redis queue, otelflow ---
.PHONY: demo
demo: install
	PYTHON=$(PYTHON) bash scripts/install-fleet-deps.sh
	bash scripts/build-fleet.sh
	PYTHON=$(PYTHON) bash deploy/run-demo.sh

# --- scaling out (docs/scaling.md, examples/scale/): agents -> loadbalancing -> two gateways with the
# seed's tail sampling; and agents -> Kafka -> gateways in one consumer group ---------------------
.PHONY: demo-scale demo-scale-kafka
demo-scale: install
	$(PIP) install --quiet --disable-pip-version-check opentelemetry-sdk==1.45.2 opentelemetry-exporter-otlp==1.45.2
	$(PYTHON) examples/scale/run-demo.py

# The Kafka variant borrows the test broker (tests/kafka_broker.py, which imports pytest).
demo-scale-kafka: install
	$(PIP) install --quiet --disable-pip-version-check -e '.[test]'
	bash scripts/install-kafka.sh
	$(PYTHON) examples/scale/run-demo.py --kafka
