"""container: parses docker (JSON), cri-o and containerd log lines, detected per line unless `format`
is set. The line's time becomes the timestamp, `log` the body and `stream` the `log.iostream`
attribute; k8s pod metadata comes from the kubelet log path (add_metadata_from_filepath). CRI
partial lines (logtag P) are joined by an internal recombine until a line tagged F."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Literal

from otelflow.ottl.funcs.strptime import UTC, _parse_in_location, set_timestamp_year
from otelflow.stanza.entry import Entry
from otelflow.stanza.field import ATTRIBUTES, BODY, RESOURCE, Field
from otelflow.stanza.helper.parser import Parser, ParserConfig
from otelflow.stanza.operator import BuildError, Emit
from otelflow.stanza.operators.parser._common import go_type
from otelflow.stanza.operators.transformer.recombine import ByteSize, Recombine, RecombineConfig
from otelflow.stanza.registry import register

DOCKER, CRIO, CONTAINERD = "docker", "crio", "containerd"
CRI_LAYOUT = "2006-01-02T15:04:05.999999999Z07:00"
DOCKER_LAYOUT = "2006-01-02T15:04:05.999Z"
LOG_PATH = "log.file.path"
#: Go's encoding/json into map[string]any: every number is a float64
_JSON = json.JSONDecoder(parse_int=float)


class ContainerConfig(ParserConfig):
    type: Literal["container"] = "container"
    format: str = ""
    add_metadata_from_filepath: bool = True
    max_log_size: ByteSize = 1024 * 1024


def _is_containerd_time(s: str) -> bool:
    if not s:
        return False
    if s.endswith("Z"):
        prefix = s[:-1]
    else:
        if len(s) < 7:
            return False
        off = s[-6:]
        if off[0] not in "+-" or off[3] != ":" or not all(off[i].isascii() and off[i].isdigit() for i in (1, 2, 4, 5)):
            return False
        prefix = s[:-6]
    return len(prefix) >= 1 and " " not in prefix and "Z" not in prefix


def detect_format(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"type '{go_type(value)}' cannot be parsed as container logs")
    if value.startswith("{"):
        return DOCKER
    time_part, sep, rest = value.partition(" ")
    if not sep:
        raise ValueError("could not split timestamp from log to detect format")
    stream, sep, _ = rest.partition(" ")
    if not sep or stream not in ("stdout", "stderr"):
        raise ValueError("could not split stream from log to detect format")
    return CONTAINERD if _is_containerd_time(time_part) else CRIO


def parse_cri(value: Any, fmt: str) -> dict[str, Any]:
    """time, stream, logtag and log of a CRI line (containerd also checks the timestamp's shape)."""
    name = "containerd logs" if fmt == CONTAINERD else "cri-o container logs"
    fail = "could not parse containerd fields" if fmt == CONTAINERD else "could not parse CRIO fields"
    if not isinstance(value, str):
        raise ValueError(f"type '{go_type(value)}' cannot be parsed as {name}")
    time_part, sep, rest = value.partition(" ")
    if not sep or (fmt == CONTAINERD and not _is_containerd_time(time_part)):
        raise ValueError(fail)
    stream, sep, rest = rest.partition(" ")
    if not sep or stream not in ("stdout", "stderr"):
        raise ValueError(fail)
    logtag, _, log = rest.partition(" ")
    return {"time": time_part, "stream": stream, "logtag": logtag, "log": log}


def _strip_log_suffix(raw: str) -> str | None:
    idx = raw.rfind(".log")
    if idx < 0:
        return None
    after = raw[idx + 4:]
    if after == "":
        return raw[:idx]
    if len(after) == 16 and after[0] == "." and after[9] == "-" and (after[1:9] + after[10:]).isdigit():
        return raw[:idx]
    return None


def _last_sep(s: str) -> int:
    return max(s.rfind("/"), s.rfind("\\"))


@lru_cache(maxsize=1024)
def parse_log_path(raw: str) -> tuple[tuple[str, str], ...] | None:
    """k8s metadata from /var/log/pods/<ns>_<pod>_<uid>/<container>/<restarts>.log[.<rotation>]."""
    base = _strip_log_suffix(raw)
    if base is None:
        return None
    i = _last_sep(base)
    restarts = base[i + 1:]
    if i < 0 or not (restarts.isascii() and restarts.isdigit()):
        return None
    base = base[:i]
    i = _last_sep(base)
    container = base[i + 1:]
    if i < 0 or not container or "." in container or "_" in container:
        return None
    base = base[:i]
    i = _last_sep(base)
    if i < 0:
        return None
    triplet = base[i + 1:]
    ns_pod, sep, uid = triplet.rpartition("_")
    if not sep or not uid or any(c not in "0123456789abcdef-" for c in uid):
        return None
    ns, sep, pod = ns_pod.rpartition("_")
    if not sep or not ns or not pod or "_" in ns or "_" in pod:
        return None
    return (
        ("k8s.namespace.name", ns),
        ("k8s.pod.name", pod),
        ("k8s.pod.uid", uid),
        ("k8s.container.name", container),
        ("k8s.container.restart_count", restarts),
    )


class Container(Parser):
    def __init__(self, cfg: ContainerConfig) -> None:
        super().__init__(cfg)
        if cfg.format not in ("", DOCKER, CRIO, CONTAINERD):
            raise BuildError(
                "operator config has an invalid `format` field. "
                "ensure that the `format` field is set to one of `docker`, `crio`, `containerd`.",
                "format",
            )
        self.format = cfg.format
        self.add_metadata = cfg.add_metadata_from_filepath
        internal = RecombineConfig(
            id="recombine_container_internal",
            type="recombine",
            is_last_entry="attributes.logtag == 'F'",
            combine_field=Field(BODY),
            combine_with="",
            source_identifier=Field(ATTRIBUTES, (LOG_PATH,)),
            max_log_size=cfg.max_log_size,
            max_batch_size=0,
            max_unmatched_batch_size=0,
        )
        self.recombine = Recombine(internal)
        self._fmt = ""

    def parse(self, value: Any) -> Any:
        if self._fmt == DOCKER:
            if not isinstance(value, str):
                raise ValueError(f"type '{go_type(value)}' cannot be parsed as docker container logs")
            try:
                parsed = _JSON.decode(value)
            except ValueError as exc:
                raise ValueError(f"invalid JSON: {exc}") from None
            if not isinstance(parsed, dict):
                raise ValueError(f"json: cannot unmarshal {go_type(parsed)} into Go value of type map[string]interface {{}}")
            return parsed
        return parse_cri(value, self._fmt)

    def process(self, entry: Entry) -> list[Emit]:
        try:
            if self.skip(entry):
                return [(None, entry)]
            fmt = self.format
            if not fmt:
                value, found = self.parse_from.get(entry)
                if not found:
                    raise ValueError("failed to detect a valid container log format: entry cannot be parsed as container logs")
                try:
                    fmt = detect_format(value)
                except ValueError as exc:
                    raise ValueError(f"failed to detect a valid container log format: {exc}") from None
            self._fmt = fmt
            self.transform(entry)
            self._map_fields(entry, DOCKER_LAYOUT if fmt == DOCKER else CRI_LAYOUT)
        except Exception as exc:  # noqa: BLE001 - entry errors go to on_error
            return self.handle_error(entry, exc)
        if fmt == DOCKER:
            return [(None, entry)]
        return self.recombine.process(entry)

    def flush(self, now_ns: int, force: bool = False) -> list[Emit]:
        return self.recombine.flush(now_ns, force)

    def _map_fields(self, entry: Entry, layout: str) -> None:
        time_field = Field(ATTRIBUTES, ("time",))
        value, found = time_field.get(entry)
        if not found:
            raise ValueError("failed to parse time: failed to get the time from entry")
        if not isinstance(value, str):
            raise ValueError(f"failed to parse time: type {go_type(value)} cannot be parsed as a time")
        try:
            entry.timestamp = set_timestamp_year(_parse_in_location(layout, value, UTC)).ns
        except Exception as exc:  # noqa: BLE001 - Go's parse error type
            raise ValueError(f"failed to parse time: {exc}") from None
        time_field.delete(entry)
        log, found = Field(ATTRIBUTES, ("log",)).delete(entry)
        if not found:
            raise ValueError("move: field log does not exist")
        Field(BODY).set(entry, log)
        stream, found = Field(ATTRIBUTES, ("stream",)).delete(entry)
        if not found:
            raise ValueError("move: field stream does not exist")
        Field(ATTRIBUTES, ("log.iostream",)).set(entry, stream)
        if self.add_metadata:
            self._k8s_metadata(entry)

    def _k8s_metadata(self, entry: Entry) -> None:
        path = (entry.attributes or {}).get(LOG_PATH, _MISSING)
        if path is _MISSING:
            raise ValueError(
                f"operator '{self.id}' has 'add_metadata_from_filepath' enabled, but the log record attribute "
                f"'{LOG_PATH}' is missing. Perhaps enable the 'include_file_path' option?"
            )
        if not isinstance(path, str):
            raise ValueError(f"type '{go_type(path)}' cannot be parsed as log path field")
        meta = parse_log_path(path)
        if meta is None:
            raise ValueError("failed to detect a valid log path")
        for key, value in meta:
            Field(RESOURCE, (key,)).set(entry, value)


_MISSING = object()

register("container", ContainerConfig, Container)
