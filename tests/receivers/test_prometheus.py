"""The ``prometheus`` receiver beyond the goldens: the real Debian Prometheus and a 10 MB target
scraped end to end, config keys, defaults and upstream's validation errors, relabelling and the
parsers' edge cases."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import Kind
from otelflow.core.registry import default_registry
from otelflow.receivers.prometheus import Config
from otelflow.receivers.prometheus import relabel, textparse
from otelflow.receivers.prometheus.promtypes import format_duration_ms, parse_base2_bytes, parse_duration_ms
from otelflow.receivers.prometheus.scrape import accept_header, scrape_offset
from tests.conftest import running
from tests.receivers import prometheus_rig as rig

PATH = "receivers::prometheus"


def cfg(scrape: dict | None = None, **extra) -> Config:
    job = {"job_name": "j", "static_configs": [{"targets": ["127.0.0.1:9"]}], **(scrape or {})}
    return validate(Config, {"config": {"scrape_configs": [job]}, **extra}, PATH)


def error_of(data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate(Config, data, PATH)
    return str(info.value)


# -- real targets ---------------------------------------------------------------------------------


async def test_debian_prometheus_matches_otelcol_ref_schema(tmp_path):
    if rig.prometheus_binary() is None:
        pytest.skip("prometheus is not installed (run `bash scripts/install-prometheus.sh`)")
    raw = await rig.scrape_server(tmp_path, running)
    got = rig.schema(raw)
    want = json.loads(rig.SERVER_SCHEMA.read_text())
    common = sorted(set(got) & set(want))
    # the set of series a live server exposes drifts a little (handlers, GC phases); the bulk must be there
    assert len(common) >= 0.9 * len(want), sorted(set(want) - set(got))
    for name in common:
        g, w = dict(got[name]), dict(want[name])
        g.pop("attributes"), w.pop("attributes")
        assert g == w, name
    up = [json.loads(line) for line in raw.split("\n") if line.strip()]
    assert up and all(_gauge(doc, "up") == [1.0] for doc in up)


def _gauge(doc: dict, name: str) -> list[float]:
    return [p.get("asDouble") for rm in doc["resourceMetrics"] for sm in rm["scopeMetrics"]
            for m in sm["metrics"] if m["name"] == name for p in m["gauge"]["dataPoints"]]


async def test_ten_megabyte_target_and_garbage_leave_the_others_alone(tmp_path):
    line = 'huge_metric_with_a_long_name_total{instance_label="{i}",shard="abcdefghij"} 12345.5'
    count = 10 * 1024 * 1024 // (len(line) + 3)
    big = rig.ScriptedTarget([{"repeat": {"line": line, "count": count}}])
    garbage = rig.ScriptedTarget([{"body": "\x00\xff garbage {{{\n" * 1000}])
    small = rig.ScriptedTarget([{"body": "ok_gauge 1\n"}])
    out = tmp_path / "out.jsonl"
    config = f"""
receivers:
  prometheus:
    discovery_reload_on_startup: true
    config:
      scrape_configs:
        - job_name: big
          scrape_interval: 10s
          static_configs: [{{targets: ["127.0.0.1:{big.port}"]}}]
        - job_name: small
          scrape_interval: 1s
          static_configs: [{{targets: ["127.0.0.1:{garbage.port}", "127.0.0.1:{small.port}"]}}]
exporters:
  file: {{path: "{out}", flush_interval: 100ms}}
service:
  pipelines:
    metrics: {{receivers: [prometheus], exporters: [file]}}
"""
    with big, garbage, small:
        async with running(config):
            deadline = time.monotonic() + 120
            up: dict[int, list[float]] = {}
            while time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                up = _ups(out, {big.port, garbage.port, small.port})
                if up[big.port] and len(up[small.port]) >= 3 and len(up[garbage.port]) >= 3:
                    break
    assert up[big.port][:1] == [1.0]
    assert _report(out, big.port, "scrape_samples_scraped")[0] == count
    # the others kept their 1 s rhythm while the 10 MB body was parsed and converted
    assert set(up[garbage.port]) == {0.0} and len(up[garbage.port]) >= 3
    assert set(up[small.port]) == {1.0} and len(up[small.port]) >= 3


def _ups(out, ports) -> dict[int, list[float]]:
    result = {p: [] for p in ports}
    if not out.exists():
        return result
    for line in out.read_text().split("\n")[:-1]:
        doc = json.loads(line)
        for rm in doc["resourceMetrics"]:
            port = int(next(a["value"]["stringValue"] for a in rm["resource"]["attributes"] if a["key"] == "server.port"))
            for sm in rm["scopeMetrics"]:
                for m in sm["metrics"]:
                    if m["name"] == "up":
                        result[port].append(m["gauge"]["dataPoints"][0]["asDouble"])
    return result


def _report(out, port: int, name: str) -> list[float]:
    values = []
    for line in out.read_text().split("\n")[:-1]:
        for rm in json.loads(line)["resourceMetrics"]:
            if any(a["key"] == "server.port" and a["value"]["stringValue"] == str(port) for a in rm["resource"]["attributes"]):
                for sm in rm["scopeMetrics"]:
                    for m in sm["metrics"]:
                        if m["name"] == name:
                            values.append(m["gauge"]["dataPoints"][0]["asDouble"])
    return values


async def test_auth_headers_and_params_reach_the_target(tmp_path):
    target = rig.ScriptedTarget([{"body": "a 1\n"}])
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    out = tmp_path / "out.jsonl"
    config = f"""
receivers:
  prometheus:
    discovery_reload_on_startup: true
    config:
      scrape_configs:
        - job_name: auth
          scrape_interval: 1s
          metrics_path: /federate
          params: {{"match[]": ['{{job="x"}}']}}
          authorization: {{credentials_file: "{token}"}}
          static_configs: [{{targets: ["127.0.0.1:{target.port}"]}}]
        - job_name: basic
          scrape_interval: 1s
          basic_auth: {{username: u, password: p}}
          enable_compression: false
          scrape_protocols: [PrometheusText0.0.4]
          static_configs: [{{targets: ["127.0.0.1:{target.port}"]}}]
exporters:
  file: {{path: "{out}", flush_interval: 100ms}}
service:
  pipelines:
    metrics: {{receivers: [prometheus], exporters: [file]}}
"""
    with target:
        async with running(config):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len({r.get("Authorization") for r in target.requests}) < 2:
                await asyncio.sleep(0.2)
    auths = {r.get("Authorization") for r in target.requests}
    assert auths == {"Bearer s3cret", "Basic dTpw"}
    basic = next(r for r in target.requests if r.get("Authorization") == "Basic dTpw")
    assert basic["Accept"] == "text/plain;version=0.0.4;q=0.6,*/*;q=0.5"
    assert basic["Accept-Encoding"] == "identity"


# -- config ---------------------------------------------------------------------------------------


def test_registered_for_metrics_only():
    factory = default_registry.get(Kind.RECEIVER, "prometheus")
    assert factory is not None and {s.value for s in factory.signals} == {"metrics"}


def test_defaults_follow_prometheus_and_global():
    c = cfg()
    sc = c.config.scrape_configs[0]
    assert (sc.scrape_interval, sc.scrape_timeout) == (60_000, 10_000)
    assert (sc.metrics_path, sc.scheme, sc.honor_timestamps, sc.honor_labels) == ("/metrics", "http", True, False)
    assert sc.scrape_protocols == ["OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4"]
    assert sc.fallback_scrape_protocol == "PrometheusText0.0.4"
    assert (c.trim_metric_suffixes, c.scrape_on_shutdown, c.initial_scrape_offset) == (False, False, 0.0)
    g = validate(Config, {"config": {"global": {"scrape_interval": "5s"}, "scrape_configs": [{"job_name": "a"}]}}, PATH)
    assert (g.config.scrape_configs[0].scrape_interval, g.config.scrape_configs[0].scrape_timeout) == (5000, 5000)


@pytest.mark.parametrize("data, message", [
    ({}, "no Prometheus scrape_configs or target_allocator set"),
    ({"config": {"scrape_configs": []}}, "no Prometheus scrape_configs or target_allocator set"),
    ({"config": {"scrape_configs": [{"job_name": ""}]}}, "job_name is empty"),
    ({"config": {"scrape_configs": [{"job_name": "a"}, {"job_name": "a"}]}}, 'found multiple scrape configs with job name "a"'),
    ({"config": {"scrape_configs": [{"job_name": "a", "scrape_interval": "5s", "scrape_timeout": "10s"}]}},
     'scrape timeout greater than scrape interval for scrape config with job name "a"'),
    ({"config": {"global": {"scrape_interval": "5s", "scrape_timeout": "10s"}, "scrape_configs": [{"job_name": "a"}]}},
     "global scrape timeout greater than scrape interval"),
    ({"config": {"scrape_configs": [{"job_name": "a"}], "remote_write": [{"url": "http://x"}], "rule_files": ["r.yml"]}},
     "unsupported features:\n\tremote_write\n\trule_files"),
    ({"config": {"scrape_configs": [{"job_name": "a", "scrape_interval": "1.5s"}]}}, 'not a valid duration string: "1.5s"'),
    ({"config": {"scrape_configs": [{"job_name": "a", "scrape_protocols": ["Bogus"]}]}}, "unknown scrape protocol Bogus"),
    ({"config": {"scrape_configs": [{"job_name": "a", "relabel_configs": [{"action": "bogus"}]}]}}, 'unknown relabel action "bogus"'),
    ({"config": {"scrape_configs": [{"job_name": "a", "relabel_configs": [{"action": "hashmod", "target_label": "x"}]}]}},
     "relabel configuration for hashmod requires non-zero modulus"),
    ({"config": {"scrape_configs": [{"job_name": "a", "relabel_configs": [{"action": "replace"}]}]}},
     "relabel configuration for replace action requires 'target_label' value"),
    ({"config": {"scrape_configs": [{"job_name": "a", "relabel_configs": [{"action": "labeldrop", "regex": "x", "target_label": "y"}]}]}},
     "labeldrop action requires only 'regex', and no other fields"),
    ({"config": {"scrape_configs": [{"job_name": "a", "basic_auth": {"username": "u"}, "authorization": {"credentials": "c"}}]}},
     "at most one of basic_auth, oauth2 & authorization must be configured"),
    ({"config": {"scrape_configs": [{"job_name": "a", "authorization": {"type": "Basic"}}]}},
     'authorization type cannot be set to "basic", use "basic_auth" instead'),
    ({"config": {"scrape_configs": [{"job_name": "a", "scrape_intervall": "1s"}]}}, 'unknown key, did you mean "scrape_interval"?'),
    ({"config": {"scrape_configs": [{"job_name": "a", "static_configs": [{"targets": ["http://x:1/metrics"]}]}]}},
     '"http://x:1/metrics" is not a valid hostname'),
    ({"config": {"scrape_configs": [{"job_name": "a", "kubernetes_sd_configs": [{"role": "pod"}]}]}},
     "kubernetes_sd_configs: this service discovery is not supported by otelflow"),
])
def test_validation_errors(data, message):
    assert message in error_of(data)


# -- relabelling (cases from Prometheus' relabel_test.go) -----------------------------------------


def rules(*configs: dict) -> list[relabel.Rule]:
    return [relabel.RelabelConfig(**c).compiled() for c in configs]


@pytest.mark.parametrize("labels, configs, want", [
    ({"a": "foo", "b": "bar", "c": "baz"},
     [{"source_labels": ["a"], "regex": "f(.*)", "target_label": "d", "replacement": "ch${1}-ch${1}"}],
     {"a": "foo", "b": "bar", "c": "baz", "d": "choo-choo"}),
    ({"a": "foo", "b": "bar", "c": "baz"},
     [{"source_labels": ["a", "b"], "regex": "f(.*);(.*)r", "target_label": "a", "replacement": "b${1}${2}m"},
      {"source_labels": ["c", "a"], "regex": "(b).*b(.*)ba(.*)", "target_label": "d", "replacement": "$1$2$2$3"}],
     {"a": "boobam", "b": "bar", "c": "baz", "d": "boooom"}),
    ({"a": "foo"}, [{"source_labels": ["a"], "regex": ".*o.*", "action": "drop"}], None),
    ({"a": "foo"}, [{"source_labels": ["a"], "regex": "f", "action": "keep"}], None),  # anchored
    ({"a": "foo"}, [{"source_labels": ["a"], "regex": "no-match", "target_label": "b"}], {"a": "foo"}),
    ({"a": "foo"}, [{"source_labels": ["a"], "regex": "(f).*", "target_label": "${1}${1}", "replacement": "x"}],
     {"a": "foo", "ff": "x"}),
    ({"a": "foo"}, [{"source_labels": ["a"], "regex": "f(.*)", "target_label": "b", "replacement": "$1name"}],
     {"a": "foo"}),  # $1name is the (missing) group "1name": empty, so b is not set
    ({"a": "foo", "c": "baz"}, [{"source_labels": ["c"], "modulus": 1000, "target_label": "d", "action": "hashmod"}],
     {"a": "foo", "c": "baz", "d": "976"}),
    ({"a": "foo\nbar"}, [{"source_labels": ["a"], "modulus": 1000, "target_label": "b", "action": "hashmod"}],
     {"a": "foo\nbar", "b": "734"}),
    ({"__meta_my_bar": "aaa", "__meta_my_baz": "bbb", "__meta_other": "ccc"},
     [{"regex": "__meta_(my.*)", "replacement": "${1}", "action": "labelmap"}],
     {"__meta_my_bar": "aaa", "__meta_my_baz": "bbb", "__meta_other": "ccc", "my_bar": "aaa", "my_baz": "bbb"}),
    ({"a": "foo", "b1": "bar", "b2": "baz"}, [{"regex": "(b.*)", "action": "labeldrop"}], {"a": "foo"}),
    ({"a": "foo", "b1": "bar", "b2": "baz"}, [{"regex": "(b.*)", "action": "labelkeep"}], {"b1": "bar", "b2": "baz"}),
    ({"foo": "bAr123Foo"}, [{"source_labels": ["foo"], "action": "uppercase", "target_label": "foo_up"},
                           {"source_labels": ["foo"], "action": "lowercase", "target_label": "foo_low"}],
     {"foo": "bAr123Foo", "foo_up": "BAR123FOO", "foo_low": "bar123foo"}),
    ({"__tmp_port": "1234", "__port1": "1234"},
     [{"source_labels": ["__tmp_port"], "action": "keepequal", "target_label": "__port1"}],
     {"__tmp_port": "1234", "__port1": "1234"}),
    ({"__tmp_port": "1234", "__port1": "1234"},
     [{"source_labels": ["__tmp_port"], "action": "dropequal", "target_label": "__port1"}], None),
    ({"a": "foo"}, [{"source_labels": ["a"], "regex": "(.*)", "target_label": "a", "replacement": ""}], {}),
    ({}, [{"target_label": "x", "replacement": "static"}], {"x": "static"}),
])
def test_relabel_semantics(labels, configs, want):
    assert relabel.process(dict(labels), rules(*configs)) == want


def test_relabel_expand_keeps_malformed_dollar():
    import re

    m = re.fullmatch("(a)(?P<n>b)", "ab")
    assert relabel.expand("$1-${n}-$$-${bad-$", m) == "a-b-$-${bad-$"


# -- parsing, formats, scheduling -----------------------------------------------------------------


def test_text_parser_entries_and_errors():
    body = '# HELP m Help with \\\\ and \\n.\n# TYPE m counter\nm{a="x\\"y",le="1"} 2 1700\n{"utf8.name",b="c"} 1\n'
    entries = list(textparse.parse(body, textparse.TEXT))
    assert entries[:2] == [("HELP", "m", "Help with \\ and \n."), ("TYPE", "m", "counter")]
    assert entries[2].labels == {"a": 'x"y', "le": "1", "__name__": "m"} and entries[2].timestamp_ms == 1700
    assert entries[2].series == 'm{a="x\\"y",le="1"}'
    assert entries[3].labels == {"b": "c", "__name__": "utf8.name"}
    for bad in ("m 1 2 3\n", "m{a=b} 1\n", "m abc\n", "# TYPE m nope\n", "m 0x1p3\n", "{a=\"b\"} 1\n"):
        with pytest.raises(textparse.ParseError):
            # labels are parsed when first used (the scrape loop skips that for cached series)
            [e.labels for e in textparse.parse(bad, textparse.TEXT) if isinstance(e, textparse.Sample)]


def test_openmetrics_parser():
    body = ('# TYPE h_seconds histogram\n# UNIT h_seconds seconds\nh_seconds_bucket{le="1"} 2 # {trace_id="ab"} 0.5 1.25\n'
            'h_seconds_bucket{le="+Inf"} 3\nh_seconds_count 3 17.5\n# EOF\n')
    entries = list(textparse.parse(body, textparse.OPENMETRICS))
    assert entries[2].labels["le"] == "1.0"  # normalised as Prometheus does
    assert entries[2].exemplars == [({"trace_id": "ab"}, 0.5, 1250)]
    assert entries[4].timestamp_ms == 17500
    with pytest.raises(textparse.ParseError, match="data does not end with # EOF"):
        list(textparse.parse("a 1\n", textparse.OPENMETRICS))
    with pytest.raises(textparse.ParseError, match="unexpected data after # EOF"):
        list(textparse.parse("a 1\n# EOF\nb 2\n", textparse.OPENMETRICS))
    with pytest.raises(textparse.ParseError, match='unit "bytes" not a suffix of metric "m"'):
        list(textparse.parse("# UNIT m bytes\n# EOF\n", textparse.OPENMETRICS))


def test_media_type_fallback():
    assert textparse.media_type("", "text/plain")[0] == "text/plain"
    assert textparse.media_type("application/json", "text/plain") == (
        "text/plain", 'received unsupported Content-Type "application/json", using fallback_scrape_protocol "text/plain"')
    assert textparse.media_type("application/openmetrics-text; version=1.0.0", "text/plain")[0] == textparse.OPENMETRICS


def test_accept_header_as_prometheus():
    assert accept_header(["OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4"],
                         "allow-utf-8") == (
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;"
        "version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")


def test_offsets_spread_within_the_interval():
    interval = 10 * 10**9
    offsets = [scrape_offset(f"target-{i}", interval, 12345, 0) for i in range(50)]
    assert all(0 <= o <= 10 for o in offsets) and len({round(o, 3) for o in offsets}) > 40
    # pinned to absolute time: a later call lands on the same slot
    assert scrape_offset("t", interval, 1, 3 * 10**9) == pytest.approx((scrape_offset("t", interval, 1, 0) - 3) % 10)


def test_prometheus_value_syntaxes():
    assert parse_duration_ms("1h30m") == 5_400_000 and parse_duration_ms("1d") == 86_400_000
    assert format_duration_ms(90_000) == "1m30s" and format_duration_ms(0) == "0s"
    assert format_duration_ms(90 * 86_400_000) == "90d" and format_duration_ms(14 * 86_400_000) == "2w"
    assert parse_base2_bytes("10MB") == 10 * 1024**2 == parse_base2_bytes("10MiB")
