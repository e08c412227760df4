"""Component type names: upstream's aliases resolve both ways, removed types name their successor.

The alias pairs are checked against upstream v0.161.0 itself where its sources are on the machine
(the Go module cache), and configs using them are run through ``otelcol-ref validate``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from otelflow.cli import main
from otelflow.config import collector, loader
from otelflow.config.errors import ConfigError
from otelflow.core.component import Kind, Signal
from otelflow.core.registry import ALIASES, Registry, default_registry

REPO = Path(__file__).resolve().parents[2]
OTELCOL_REF = REPO / "bench" / ".build" / "bin" / "otelcol-ref"
GOMOD = Path("/root/go/pkg/mod")
CONTRIB = GOMOD / "github.com" / "open-telemetry" / "opentelemetry-collector-contrib"
CORE = GOMOD / "go.opentelemetry.io" / "collector"

# How to place each aliased type in a pipeline: (signal in, signal out for connectors, settings both
# collectors accept without anything to connect to).
PLACES: dict[tuple[Kind, str], tuple[Signal, Signal | None, dict]] = {
    (Kind.RECEIVER, "host_metrics"): (Signal.METRICS, None, {"scrapers": {"cpu": {}}}),
    (Kind.RECEIVER, "file_log"): (Signal.LOGS, None, {"include": ["/nonexistent/otelflow-test.log"]}),
    (Kind.RECEIVER, "fluent_forward"): (Signal.LOGS, None, {"endpoint": "127.0.0.1:0"}),
    (Kind.RECEIVER, "http_check"): (Signal.METRICS, None, {"targets": [{"endpoint": "http://127.0.0.1:9"}]}),
    (Kind.PROCESSOR, "resource_detection"): (Signal.TRACES, None, {}),
    (Kind.PROCESSOR, "cumulative_to_delta"): (Signal.METRICS, None, {}),
    (Kind.PROCESSOR, "delta_to_cumulative"): (Signal.METRICS, None, {}),
    (Kind.PROCESSOR, "metrics_transform"): (Signal.METRICS, None, {"transforms": []}),
    (Kind.EXPORTER, "otlp_grpc"): (Signal.TRACES, None, {"endpoint": "127.0.0.1:4317"}),
    (Kind.EXPORTER, "otlp_http"): (Signal.TRACES, None, {"endpoint": "http://127.0.0.1:4318"}),
    (Kind.EXPORTER, "load_balancing"): (Signal.TRACES, None, {"protocol": {"otlp": {"endpoint": "127.0.0.1:4317"}},
                                                              "resolver": {"static": {"hostnames": ["127.0.0.1:4317"]}}}),
    (Kind.EXPORTER, "prometheus_remote_write"): (Signal.METRICS, None, {"endpoint": "http://127.0.0.1:9/api/v1/write"}),
    (Kind.CONNECTOR, "span_metrics"): (Signal.TRACES, Signal.METRICS, {}),
    (Kind.CONNECTOR, "otlp_json"): (Signal.LOGS, Signal.TRACES, {}),
}


def _pairs() -> list[tuple[Kind, str, str]]:
    return [(kind, new, old) for kind, pairs in ALIASES.items() for new, old in pairs.items()]


def _shipped(registry: Registry = default_registry) -> list[tuple[Kind, str, str]]:
    return [(k, new, old) for k, new, old in _pairs() if registry.get(k, new) is not None]


def test_every_alias_pair_reaches_one_factory_both_ways() -> None:
    shipped = _shipped()
    assert len(shipped) >= 11  # the aliased types otelflow shipped when the pairs were written
    for kind, new, old in shipped:
        factory = default_registry.get(kind, new)
        assert default_registry.get(kind, old) is factory, (kind, old)
        assert old in default_registry.types(kind) and new in default_registry.types(kind)
    # a type registered under the old spelling answers to the new one, and the other way round
    table = {Kind.RECEIVER: {"hostmetrics": "otelflow.receivers.hostmetrics:factory",
                             "file_log": "otelflow.receivers.filelog:factory"}}
    reg = Registry(table)
    assert reg.get(Kind.RECEIVER, "host_metrics") is reg.get(Kind.RECEIVER, "hostmetrics") is not None
    assert reg.get(Kind.RECEIVER, "filelog") is reg.get(Kind.RECEIVER, "file_log") is not None
    assert reg.canonical_types(Kind.RECEIVER) == ["file_log", "host_metrics"]
    assert reg.get(Kind.RECEIVER, "fluentforward") is None  # a pair whose type is absent resolves to nothing


def test_only_upstreams_names_are_accepted() -> None:
    # a spelling upstream never registered stays unknown, as in otelcol
    for kind, name in [(Kind.EXTENSION, "healthcheck"), (Kind.EXTENSION, "file_storage_x"),
                       (Kind.RECEIVER, "hostMetrics"), (Kind.EXPORTER, "otlpgrpc"), (Kind.CONNECTOR, "forward_")]:
        assert default_registry.get(kind, name) is None, name
    every_alias = {(k, n) for k, new, old in _pairs() for n in (new, old)}
    assert len(every_alias) == 2 * len(_pairs())  # no name in two pairs


def _upstream_modules() -> list[Path]:
    found = []
    for root in (CONTRIB, CORE):
        found += [p for p in root.glob("*/*@v0.161.0") if (p / "metadata.yaml").exists()]
        found += [p for p in root.glob("*/*/*@v0.161.0") if (p / "metadata.yaml").exists()]
    return found


@pytest.mark.skipif(not CONTRIB.exists(), reason="upstream's Go sources (module cache) are not on this machine")
def test_pairs_match_upstream_metadata() -> None:
    """Every deprecated_type upstream v0.161.0 declares for a type otelflow ships is in ALIASES, and
    every pair in ALIASES is upstream's: in a module's metadata.yaml, or a rename in the changelog."""
    declared: dict[tuple[Kind, str], str] = {}
    classes = {"receiver": Kind.RECEIVER, "processor": Kind.PROCESSOR, "exporter": Kind.EXPORTER,
               "connector": Kind.CONNECTOR, "extension": Kind.EXTENSION}
    for module in _upstream_modules():
        text = (module / "metadata.yaml").read_text()
        type_ = re.search(r"^type: (\S+)", text, re.M)
        cls = re.search(r"^\s+class: (\w+)", text, re.M)
        old = re.search(r"^deprecated_type: (\S+)", text, re.M)
        if type_ and cls and cls.group(1) in classes and old:
            declared[(classes[cls.group(1)], type_.group(1))] = old.group(1)
    assert len(declared) >= 10
    for (kind, new), old in declared.items():
        if default_registry.get(kind, new) is not None or default_registry.get(kind, old) is not None:
            assert ALIASES[kind].get(new) == old, (kind, new, old)
    changelog = (CONTRIB.parent / "opentelemetry-collector-contrib@v0.161.0" / "CHANGELOG.md")
    log = changelog.read_text() if changelog.exists() else ""
    checked = 0
    for kind, new, old in _pairs():
        if (kind, new) in declared:
            assert declared[(kind, new)] == old
            checked += 1
            continue
        # not on this machine as a module (the cache holds what otelcol-ref's build fetched): the
        # changelog's rename line when it has one; a pair with neither stays unchecked here
        if re.search(rf"^- `{kind.value}/{new}`: Rename .*`{old}`.*`{new}`.*alias", log, re.M):
            checked += 1
    assert checked >= 5  # the module cache holds at least the modules otelcol-ref is built from


def _config(names: list[tuple[Kind, str, str]]) -> dict:
    """A config with each (kind, type, canonical) placed in a pipeline of its own, fed by/feeding nop."""
    tree: dict = {k.section: {} for k in Kind if k is not Kind.EXTENSION}
    pipelines: dict = {}
    for i, (kind, name, canonical) in enumerate(names):
        signal, out, settings = PLACES[(kind, canonical)]
        cid = f"{name}/n{i}"
        tree[kind.section][cid] = settings or None
        tree["receivers"]["nop"] = None
        tree["exporters"]["nop"] = None
        pipe = {"receivers": ["nop"], "exporters": ["nop"]}
        if kind is Kind.RECEIVER:
            pipe["receivers"] = [cid]
        elif kind is Kind.PROCESSOR:
            pipe["processors"] = [cid]
        elif kind is Kind.EXPORTER:
            pipe["exporters"] = [cid]
        else:
            pipe["exporters"] = [cid]
            pipelines[f"{out.value}/n{i}"] = {"receivers": [cid], "exporters": ["nop"]}
        pipelines[f"{signal.value}/p{i}"] = pipe
    tree["service"] = {"pipelines": pipelines}
    return {k: v for k, v in tree.items() if v}


def test_configs_using_either_name_load_and_build_the_same_type() -> None:
    names = [(k, n, new) for k, new, old in _shipped() for n in (new, old)]
    cfg = collector.parse(_config(names), default_registry)
    for i, (kind, name, canonical) in enumerate(names):
        model = cfg.components[kind][next(c for c in cfg.components[kind] if c.name == f"n{i}")]
        assert type(model) is default_registry.get(kind, canonical).config, name


def _otelcol_ref_types() -> dict[Kind, set[str]]:
    out = subprocess.run([str(OTELCOL_REF), "components"], capture_output=True, text=True, timeout=60, check=True).stdout
    types: dict[Kind, set[str]] = {k: set() for k in Kind}
    kind = None
    for line in out.splitlines():
        section = line.rstrip(":")
        if not line.startswith(" "):
            kind = next((k for k in Kind if k.section == section), None)
        elif kind is not None and (m := re.match(r"\s+- name: (\S+)", line)):
            types[kind].add(m.group(1))
    return types


needs_ref = pytest.mark.skipif(not OTELCOL_REF.exists(), reason="otelcol-ref is not built (bench/README.md)")


@needs_ref
def test_otelcol_ref_accepts_the_same_aliases(tmp_path: Path) -> None:
    import yaml

    ref = _otelcol_ref_types()
    both = [(k, n, new) for k, new, old in _pairs() if new in ref[k] for n in (new, old)]
    assert len(both) >= 2 * 12
    path = tmp_path / "aliases.yaml"
    path.write_text(yaml.safe_dump(_config(both)))
    run = subprocess.run([str(OTELCOL_REF), "validate", "--config", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    ours = [(k, n, c) for k, n, c in both if default_registry.get(k, c) is not None]
    path.write_text(yaml.safe_dump(_config(ours)))
    assert main(["validate", "--config", str(path)]) == 0
    # and upstream rejects a spelling it never registered, as otelflow does
    path.write_text(yaml.safe_dump(_config([(Kind.EXPORTER, "otlpgrpc", "otlp_grpc")])))
    run = subprocess.run([str(OTELCOL_REF), "validate", "--config", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and 'unknown type: "otlpgrpc"' in run.stderr


REMOVED_CASES = [
    ("exporters", "logging", 'use the "debug" exporter instead'),
    ("exporters", "jaeger", 'use the "otlp_grpc" exporter'),
    ("exporters", "jaeger_thrift", 'use the "otlp_http" exporter'),
    ("exporters", "loki", 'use the "otlp_http" exporter'),
    ("exporters", "opencensus", 'use the "otlp_grpc" exporter'),
    ("receivers", "opencensus", 'use the "otlp" receiver'),
    ("processors", "spanmetrics", 'use the "span_metrics" connector'),
    ("processors", "routing", 'use the "routing" connector'),
    ("extensions", "memory_ballast", '"memory_limiter" processor'),
]


@pytest.mark.parametrize(("section", "type_", "successor"), REMOVED_CASES)
def test_removed_type_names_its_successor_at_its_path(section: str, type_: str, successor: str) -> None:
    tree: dict = {"receivers": {"nop": None}, "exporters": {"nop": None},
                  "service": {"pipelines": {"traces": {"receivers": ["nop"], "exporters": ["nop"]}}}}
    tree.setdefault(section, {})[f"{type_}/mine"] = {"any": "setting"}
    with pytest.raises(ConfigError) as err:
        collector.parse(tree, default_registry)
    [issue] = [i for i in err.value.issues if type_ in i.path]
    assert issue.path == f"{section}::{type_}/mine"
    assert f'type "{type_}" was removed from otelcol in v0.' in issue.message and successor in issue.message
    assert "unknown" not in issue.message  # the settings of a removed type are not checked against anything


@needs_ref
def test_removed_logging_exporter_quotes_upstream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "logging.yaml"
    path.write_text("receivers: {nop: }\nexporters: {logging: {verbosity: detailed}}\n"
                    "service: {pipelines: {logs: {receivers: [nop], exporters: [logging]}}}\n")
    run = subprocess.run([str(OTELCOL_REF), "validate", "--config", str(path)], capture_output=True, text=True, timeout=60)
    upstream = "the logging exporter has been deprecated, use the debug exporter instead"
    assert run.returncode != 0 and upstream in run.stderr
    assert main(["validate", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "exporters::logging: " in err and upstream in err


def test_components_lists_each_type_once_with_its_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["components"]) == 0
    out = capsys.readouterr().out
    sections = dict(re.findall(r"^(\w+):\n((?:  .*\n?)*)", out, re.M))
    for kind in Kind:
        body = sections[kind.section]
        names = re.findall(r"^  - name: (\S+)$", body, re.M)
        assert names == default_registry.canonical_types(kind)
        for new, old in ALIASES[kind].items():
            assert old not in names  # an old spelling is never listed as a type of its own
            if new in names:
                entry = body.split(f"  - name: {new}\n", 1)[1].split("  - name:", 1)[0]
                assert f"    deprecated_aliases: [{old}]" in entry
    assert "  - name: otlp_grpc\n" in sections["exporters"] and "  - name: otlp\n" in sections["receivers"]


@needs_ref
def test_components_uses_otelcol_refs_names() -> None:
    """For every type both have, otelflow lists it under the name otelcol-ref lists (or, for a module
    otelcol-ref takes from an older release, under the name upstream gave it since: httpcheck)."""
    ref = _otelcol_ref_types()
    renamed = {(k, old): new for k, pairs in ALIASES.items() for new, old in pairs.items()}
    for kind in Kind:
        ours = set(default_registry.canonical_types(kind))
        for name in ref[kind]:
            if default_registry.get(kind, name) is not None:
                assert name in ours or renamed.get((kind, name)) in ours, (kind, name)
