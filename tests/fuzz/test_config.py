"""Fuzzing the config loader and checker: random YAML text, random ``--set`` overrides and
``${env:...}`` references, and mutated trees of a real config. Whatever comes in, the result is a
config or a ConfigError whose every issue names where it is, never another exception."""

from __future__ import annotations

import copy
import random

import yaml
from hypothesis import given, settings, strategies as st

from otelflow.config import collector, loader
from otelflow.config.errors import ConfigError
from otelflow.core.registry import default_registry
from tests.fuzz.harness import examples

BASE = yaml.safe_load("""
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:4317", max_recv_msg_size_mib: 4, max_concurrent_streams: 16}
      http: {endpoint: "127.0.0.1:4318", max_request_body_size: 1048576, compression_algorithms: [gzip, zstd],
             cors: {allowed_origins: ["https://*.example.com"]}}
processors:
  batch: {timeout: 1s, send_batch_size: 512}
  memory_limiter: {check_interval: 1s, limit_mib: 512}
  attributes/tag: {actions: [{key: env, value: prod, action: upsert}]}
exporters:
  otlp: {endpoint: "127.0.0.1:4317", tls: {insecure: true}}
  otlphttp: {endpoint: "http://127.0.0.1:4318", compression: zstd, retry_on_failure: {enabled: false}}
  debug: {verbosity: basic}
connectors:
  spanmetrics: {}
extensions:
  health_check: {}
service:
  extensions: [health_check]
  pipelines:
    traces: {receivers: [otlp], processors: [memory_limiter, batch], exporters: [otlp, spanmetrics]}
    metrics: {receivers: [otlp, spanmetrics], processors: [batch], exporters: [otlphttp]}
    logs: {receivers: [otlp], processors: [attributes/tag], exporters: [debug]}
""")

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True),
    st.text(max_size=12), st.sampled_from(["${env:X}", "${X:-1}", "$${X}", "${file:/etc/passwd}", "${}", "1s",
                                           "-5ms", "otlp", "otlp/", "/x", "batch", "traces/", "::", "0x10"]),
)
KEYS = st.one_of(st.text(max_size=10), st.integers(), st.booleans(), st.none(),
                 st.sampled_from(["otlp", "otlp/2", "batch", "grpc", "http", "endpoint", "tls", "auth", "traces"]))
TREES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12)


def _check(run) -> None:
    try:
        run()
    except ConfigError as exc:
        assert exc.issues, "a ConfigError lists at least one issue"
        for issue in exc.issues:
            assert issue.path, f"issue without a YAML path: {issue}"


def _parse(tree) -> None:
    collector.parse(tree, default_registry)


def _nodes(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _nodes(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _nodes(v, path + (i,))


@settings(max_examples=examples(300))
@given(text=st.text(max_size=300))
def test_random_yaml_text(text):
    _check(lambda: _parse(loader.load(["env:CFG"], environ={"CFG": text})))


@settings(max_examples=examples(300))
@given(rng=st.randoms(use_true_random=False), values=st.lists(TREES, min_size=1, max_size=4),
       keys=st.lists(KEYS, min_size=1, max_size=4))
def test_mutated_config_trees(rng: random.Random, values, keys):
    tree = copy.deepcopy(BASE)
    for value in values:
        paths = [p for p in _nodes(tree) if p]
        path = rng.choice(paths)
        parent = tree
        for p in path[:-1]:
            parent = parent[p]
        action = rng.randrange(3)
        if action == 0:
            parent[path[-1]] = value
        elif action == 1 and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[rng.choice(keys)] = value
    _check(lambda: _parse(loader.expand(tree, {"X": rng.choice(["1", "a: b", "[", "${X}", ""])})))


@settings(max_examples=examples(200))
@given(overrides=st.lists(st.text(max_size=60), max_size=3), env=st.dictionaries(
    st.sampled_from(["X", "Y", "A_B"]), st.text(max_size=20), max_size=3))
def test_set_overrides_and_references(overrides, env):
    text = yaml.safe_dump(BASE) + "\n# ${env:X} ${Y}\n"
    _check(lambda: _parse(loader.load(["env:CFG"], overrides, environ={"CFG": text, **env})))
    _check(lambda: _parse(loader.load(["env:CFG"], [f"service::pipelines::traces::exporters={o}" for o in overrides],
                                      environ={"CFG": text, **env})))
