"""Config sources, merging, --set and ${env:...} expansion, as upstream's confmap resolves them."""

import pytest

from otelflow.config import ConfigError
from otelflow.config.loader import load, parse_set


def test_later_files_merge_over_earlier_maps_and_replace_lists(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("x: {keep: 1, over: 1, list: [1, 2]}\ny: 1\n")
    b.write_text("x: {over: 2, list: [3]}\n")
    assert load([str(a), f"file:{b}"]) == {"x": {"keep": 1, "over": 2, "list": [3]}, "y": 1}


def test_set_uses_double_colon_paths_and_yaml_values():
    assert parse_set("exporters::otlphttp/tempo::endpoint=http://127.0.0.1:4319") == {
        "exporters": {"otlphttp/tempo": {"endpoint": "http://127.0.0.1:4319"}}}
    assert parse_set("processors::batch::send_batch_size=100") == {"processors": {"batch": {"send_batch_size": 100}}}
    assert load(["yaml:a: {b: 1}"], ["a::c=[x, y]"]) == {"a": {"b": 1, "c": ["x", "y"]}}
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_set("novalue")


def test_env_references():
    env = {"HOST": "collector", "PORT": "4317", "EMPTY": ""}
    tree = load(["yaml:{a: '${env:HOST}:${PORT}', b: '${env:PORT}', c: '${env:NOPE:-fallback}', d: '${env:EMPTY:-x}',"
                 " e: 'cost $$5', f: '${env:NOPE}'}"], environ=env)
    assert tree == {"a": "collector:4317", "b": 4317, "c": "fallback", "d": "", "e": "cost $5", "f": ""}


def test_bad_reference_names_the_path():
    with pytest.raises(ConfigError, match=r"a::b: unsupported reference scheme \"vault\""):
        load(["yaml:{a: {b: '${vault:secret}'}}"], environ={})


def test_env_source_and_unreadable_file():
    assert load(["env:CFG"], environ={"CFG": "service: {pipelines: {}}"}) == {"service": {"pipelines": {}}}
    with pytest.raises(ConfigError, match="cannot read config file"):
        load(["/nonexistent/otelflow.yaml"])
