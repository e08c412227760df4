"""container parser: format detection, the three line formats, k8s metadata from kubelet paths, and
the internal recombine of CRI partial lines (flushed by tag F, size, or the pipeline's timed flush)."""

from __future__ import annotations

import pytest

from otelflow.config.errors import ConfigError
from otelflow.stanza.entry import Entry
from otelflow.stanza.operators.parser.container import detect_format, parse_log_path
from otelflow.stanza.pipeline import build_pipeline

PATH = "receivers::file_log::operators"
K8S = "/var/log/pods/my-ns_my-pod-abc_0123-4567-89ab-cdef/app/3.log"


def entries(*lines: str, path: str = K8S) -> list[Entry]:
    return [Entry(body=line, attributes={"log.file.path": path}, observed_timestamp=10**9) for line in lines]


@pytest.mark.parametrize(
    "line, fmt",
    [
        ('{"log":"x"}', "docker"),
        ("2023-06-22T10:27:25.813799277Z stdout F x", "containerd"),
        ("2023-06-22T10:27:25.813799277+02:00 stderr P x", "containerd"),
        ("2023-06-22T10:27:25 stdout F x", "crio"),  # no zone: not containerd's shape
    ],
)
def test_detect_format(line: str, fmt: str) -> None:
    assert detect_format(line) == fmt


@pytest.mark.parametrize("line", ["nospace", "2023 stdin F x", "2023 stdout"])
def test_detect_format_errors(line: str) -> None:
    with pytest.raises(ValueError):
        detect_format(line)


def test_k8s_path_parsing() -> None:
    assert dict(parse_log_path(K8S)) == {
        "k8s.namespace.name": "my-ns",
        "k8s.pod.name": "my-pod-abc",
        "k8s.pod.uid": "0123-4567-89ab-cdef",
        "k8s.container.name": "app",
        "k8s.container.restart_count": "3",
    }
    assert parse_log_path(K8S + ".20240101-120000") is not None  # rotated file
    for bad in ("/var/log/pods/ns_pod_UID/app/0.log", "/tmp/input.log", "/a/ns_pod_ab/app.x/0.log", "/a/ns_pod_ab/app/x.log", K8S + ".1"):
        assert parse_log_path(bad) is None


def test_docker_line() -> None:
    (out,) = build_pipeline([{"type": "container"}], PATH).process(
        entries('{"log":"hello\\n","stream":"stderr","time":"2024-01-02T03:04:05.123456789Z"}')
    )
    assert out.body == "hello\n"
    assert out.timestamp == 1704164645123456789
    assert out.attributes == {"log.file.path": K8S, "log.iostream": "stderr"}
    assert out.resource["k8s.pod.name"] == "my-pod-abc"


def test_cri_partials_are_joined_until_f() -> None:
    pipe = build_pipeline([{"type": "container", "add_metadata_from_filepath": False}], PATH)
    out = pipe.process(entries(
        "2024-01-02T03:04:05.000000001Z stdout P one ",
        "2024-01-02T03:04:05.000000002Z stdout P two ",
        "2024-01-02T03:04:05.000000003Z stdout F three",
        "2024-01-02T03:04:06-05:00 stdout P dangling",
    ))
    assert [(e.body, e.timestamp, e.attributes["logtag"]) for e in out] == [("one two three", 1704164645000000001, "P")]
    assert pipe.flush(5 * 10**9) == []  # 4 s after its first entry
    (late,) = pipe.flush(6 * 10**9)
    assert late.body == "dangling" and late.timestamp == (1704164646 + 5 * 3600) * 10**9


def test_cri_partials_respect_max_log_size() -> None:
    pipe = build_pipeline([{"type": "container", "add_metadata_from_filepath": False, "max_log_size": 8}], PATH)
    out = pipe.process(entries(*(f"2024-01-02T03:04:05Z stdout P part{i}" for i in range(4))))
    assert [e.body for e in out] == ["part0part1", "part2part3"]


def test_sources_are_recombined_separately() -> None:
    pipe = build_pipeline([{"type": "container", "add_metadata_from_filepath": False}], PATH)
    out = pipe.process(entries("2024-01-02T03:04:05Z stdout P a", path="/1.log")
                       + entries("2024-01-02T03:04:05Z stdout P b", path="/2.log")
                       + entries("2024-01-02T03:04:05Z stdout F c", path="/1.log"))
    assert [e.body for e in out] == ["ac"]


@pytest.mark.parametrize(
    "ops, line, message",
    [
        ([{"type": "container", "format": "docker"}], "not json", "invalid JSON"),
        ([{"type": "container", "format": "containerd"}], "2024-01-02T03:04:05 stdout F x", "could not parse containerd fields"),
        ([{"type": "container"}], "garbage", "could not split timestamp"),
        ([{"type": "container"}], "2024-01-02T03:04:05Z stdout F x", "failed to detect a valid log path"),
        ([{"type": "container", "format": "crio", "add_metadata_from_filepath": False}], "yesterday stdout F x", "failed to parse time"),
    ],
)
def test_bad_lines_follow_on_error(ops: list[dict], line: str, message: str, caplog: pytest.LogCaptureFixture) -> None:
    pipe = build_pipeline(ops, PATH)
    sent = pipe.process(entries(line, path="/tmp/x.log"))
    assert len(sent) == 1 and pipe.errors == 1
    assert message in caplog.text
    dropped = build_pipeline([{**ops[0], "on_error": "drop_quiet"}], PATH).process(entries(line, path="/tmp/x.log"))
    assert dropped == []


def test_missing_path_attribute_message(caplog: pytest.LogCaptureFixture) -> None:
    build_pipeline([{"type": "container", "id": "c"}], PATH).process([Entry(body='{"log":"x","stream":"stdout","time":"2024-01-02T03:04:05Z"}')])
    assert "operator 'c' has 'add_metadata_from_filepath' enabled" in caplog.text


def test_invalid_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=f"{PATH}::0::format: operator config has an invalid `format` field"):
        build_pipeline([{"type": "container", "format": "podman"}], PATH)
