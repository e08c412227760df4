"""The whole collector config: sections of components plus ``service``, checked as upstream checks it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from otelflow.config.errors import ConfigError, ConfigIssue, did_you_mean, join_path
from otelflow.config.model import Model, component_id_text, validate
from otelflow.config.telemetry import TelemetryConfig
from otelflow.core.component import ComponentID, Kind, Signal
from otelflow.core.featuregates import PROFILES_SUPPORT, REGISTRY as GATES
from otelflow.core.registry import Registry

SECTIONS = {k.section: k for k in Kind}

#: Component types otelcol removed that configs still name: the release that removed them (from the
#: core and contrib changelogs) and what replaced them, in upstream's words where it has them.
REMOVED = {
    (Kind.EXPORTER, "logging"): ("v0.111.0", 'use the "debug" exporter instead, its verbosity replaces loglevel'
                                 ' (otelcol: "the logging exporter has been deprecated, use the debug exporter instead")'),
    (Kind.EXPORTER, "jaeger"): ("v0.86.0", 'use the "otlp_grpc" exporter (or "otlp_http"): Jaeger receives OTLP natively'),
    (Kind.EXPORTER, "jaeger_thrift"): ("v0.86.0", 'use the "otlp_http" exporter: Jaeger receives OTLP natively'),
    (Kind.EXPORTER, "loki"): ("v0.131.0", 'use the "otlp_http" exporter: Loki receives OTLP natively'),
    (Kind.EXPORTER, "sapm"): ("v0.148.0", 'use the "otlp_http" exporter'),
    (Kind.RECEIVER, "sapm"): ("v0.135.0", 'use the "otlp" receiver'),
    (Kind.EXPORTER, "opencensus"): ("v0.134.0", 'use the "otlp_grpc" exporter'),
    (Kind.RECEIVER, "opencensus"): ("v0.134.0", 'use the "otlp" receiver'),
    (Kind.PROCESSOR, "spanmetrics"): ("v0.96.0", 'use the "span_metrics" connector'),
    (Kind.PROCESSOR, "servicegraph"): ("v0.94.0", 'use the "service_graph" connector'),
    (Kind.PROCESSOR, "routing"): ("v0.133.0", 'use the "routing" connector'),
    (Kind.EXTENSION, "memory_ballast"): ("v0.109.0", 'otelcol says to set GOMEMLIMIT instead; in otelflow the "memory_limiter" processor bounds memory'),
}
TOP_LEVEL_KEYS = [*SECTIONS, "service"]


class PipelineSpec(Model):
    receivers: list[str] = []
    processors: list[str] = []
    exporters: list[str] = []


class ServiceSpec(Model):
    extensions: list[str] = []
    pipelines: dict[str, PipelineSpec | None] = {}
    # Self-telemetry settings (logs, metrics, traces, resource) are read by the service as they are.
    telemetry: dict[str, Any] = {}


@dataclass(frozen=True)
class PipelineID:
    signal: Signal
    name: str = ""

    def __str__(self) -> str:
        return f"{self.signal.value}/{self.name}" if self.name else self.signal.value


@dataclass
class Pipeline:
    id: PipelineID
    receivers: list[ComponentID]
    processors: list[ComponentID]
    exporters: list[ComponentID]


@dataclass
class CollectorConfig:
    components: dict[Kind, dict[ComponentID, BaseModel]] = field(default_factory=dict)
    pipelines: dict[PipelineID, Pipeline] = field(default_factory=dict)
    extensions: list[ComponentID] = field(default_factory=list)
    telemetry: dict[str, Any] = field(default_factory=dict)
    telemetry_config: TelemetryConfig = field(default_factory=TelemetryConfig)
    warnings: list[ConfigIssue] = field(default_factory=list)

    def config_of(self, kind: Kind, id_: ComponentID) -> BaseModel:
        return self.components[kind][id_]


def parse(tree: dict, registry: Registry) -> CollectorConfig:
    """Validate the plain tree; raise ConfigError listing every problem found."""
    issues: list[ConfigIssue] = []
    out = CollectorConfig(components={k: {} for k in Kind})

    for key in tree:
        if key not in TOP_LEVEL_KEYS:
            issues.append(ConfigIssue(str(key) or '""', "unknown top-level key" + did_you_mean(str(key), TOP_LEVEL_KEYS)))

    for section, kind in SECTIONS.items():
        entries = tree.get(section) or {}
        if not isinstance(entries, dict):
            issues.append(ConfigIssue(section, f"expected a map of component IDs to settings, got {type(entries).__name__}"))
            continue
        for raw_id, raw_cfg in entries.items():
            path = join_path(section, raw_id)
            try:
                cid = ComponentID.parse(component_id_text(raw_id))
            except ValueError as exc:
                issues.append(ConfigIssue(path, str(exc)))
                continue
            factory = registry.get(kind, cid.type)
            if factory is None and (kind, cid.type) in REMOVED:
                release, successor = REMOVED[(kind, cid.type)]
                issues.append(ConfigIssue(path, f'the {kind.value} type "{cid.type}" was removed from otelcol in {release}; {successor}'))
                continue
            if factory is None:
                issues.append(ConfigIssue(path, f'unknown {kind.value} type "{cid.type}"' + did_you_mean(cid.type, registry.types(kind))))
                continue
            try:
                out.components[kind][cid] = validate(factory.config, raw_cfg, path)
            except ConfigError as exc:
                issues.extend(exc.issues)

    service_tree = tree.get("service")
    if service_tree is None:
        issues.append(ConfigIssue("service", "required section is missing; it lists the pipelines to run"))
        raise ConfigError(issues)
    try:
        service = validate(ServiceSpec, service_tree, "service")
    except ConfigError as exc:
        raise ConfigError(issues + exc.issues) from None
    out.telemetry = service.telemetry
    try:
        out.telemetry_config = validate(TelemetryConfig, service.telemetry, "service::telemetry")
    except ConfigError as exc:
        issues.extend(exc.issues)

    sections = {k: tree.get(k.section) if isinstance(tree.get(k.section), dict) else {} for k in out.components}
    declared = {k: {str(i) for i in v} | {str(i) for i in sections[k]} for k, v in out.components.items()}
    for i, raw in enumerate(service.extensions):
        _check_ref(raw, Kind.EXTENSION, declared, "service::extensions", issues, out.extensions)

    if not service.pipelines:
        issues.append(ConfigIssue("service::pipelines", "at least one pipeline is required"))
    for raw_pid, spec in service.pipelines.items():
        path = join_path("service::pipelines", raw_pid)
        signal_name, _, name = raw_pid.partition("/")
        try:
            signal = Signal(signal_name)
        except ValueError:
            issues.append(ConfigIssue(path, f'unknown signal "{signal_name}"' + did_you_mean(signal_name, [s.value for s in Signal])))
            continue
        spec = spec or PipelineSpec()
        pipe = Pipeline(PipelineID(signal, name), [], [], [])
        for role, kinds, target in (
            ("receivers", (Kind.RECEIVER, Kind.CONNECTOR), pipe.receivers),
            ("processors", (Kind.PROCESSOR,), pipe.processors),
            ("exporters", (Kind.EXPORTER, Kind.CONNECTOR), pipe.exporters),
        ):
            for raw in getattr(spec, role):
                _check_ref(raw, kinds, declared, join_path(path, role), issues, target)
        if not spec.receivers:
            issues.append(ConfigIssue(path, "must have at least one receiver"))
        if not spec.exporters:
            issues.append(ConfigIssue(path, "must have at least one exporter"))
        out.pipelines[pipe.id] = pipe

    _check_connectors(out, issues)
    _check_profiles_gate(out, issues)
    _check_signals(out, registry, issues)
    if not issues:
        _check_cycles(out, issues)
    if issues:
        raise ConfigError(issues)
    _note_unused(out)
    return out


def upstream_incompatibilities(cfg: CollectorConfig) -> list[ConfigIssue]:
    """What the config uses that otelcol does not run the same way. A component config model lists its
    own with ``upstream_incompatibilities() -> list[str]``, each "relative::yaml::path: message"."""
    issues = []
    for kind, configs in cfg.components.items():
        for cid, model in configs.items():
            for item in getattr(model, "upstream_incompatibilities", list)():
                rel, sep, message = item.partition(": ")
                issues.append(ConfigIssue(join_path(kind.section, cid, rel if sep else ""), message if sep else item))
    for item in cfg.telemetry_config.upstream_incompatibilities():
        rel, _, message = item.partition(": ")
        issues.append(ConfigIssue(join_path("service::telemetry", rel), message))
    return issues


def _check_ref(raw: str, kinds, declared, path: str, issues: list[ConfigIssue], target: list) -> None:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    try:
        cid = ComponentID.parse(raw)
    except ValueError as exc:
        issues.append(ConfigIssue(path, str(exc)))
        return
    if cid in target:
        issues.append(ConfigIssue(path, f'"{raw}" is listed more than once'))
        return
    if not any(str(cid) in declared[k] for k in kinds):
        names = [n for k in kinds for n in declared[k]]
        what = " or ".join(k.value for k in kinds)
        issues.append(ConfigIssue(path, f'references {what} "{raw}" which is not configured' + did_you_mean(raw, names)))
        return
    target.append(cid)


def _check_connectors(cfg: CollectorConfig, issues: list[ConfigIssue]) -> None:
    for cid in cfg.components[Kind.CONNECTOR]:
        as_exporter = any(cid in p.exporters for p in cfg.pipelines.values())
        as_receiver = any(cid in p.receivers for p in cfg.pipelines.values())
        if as_exporter != as_receiver:
            missing = "receiver" if as_exporter else "exporter"
            issues.append(ConfigIssue(join_path("connectors", cid), f"must be used as both receiver and exporter but is not used as {missing}"))


def _check_signals(cfg: CollectorConfig, registry: Registry, issues: list[ConfigIssue]) -> None:
    for pid, pipe in cfg.pipelines.items():
        path = join_path("service::pipelines", pid)
        for role, kind, ids in (("receiver", Kind.RECEIVER, pipe.receivers), ("processor", Kind.PROCESSOR, pipe.processors), ("exporter", Kind.EXPORTER, pipe.exporters)):
            for cid in ids:
                if cid not in cfg.components[kind]:
                    continue  # a connector
                factory = registry.get(kind, cid.type)
                if factory and pid.signal not in factory.signals:
                    issues.append(ConfigIssue(path, _unsupported(role, cid, pid)))
        for cid in pipe.exporters:
            if cid not in cfg.components[Kind.CONNECTOR]:
                continue
            factory = registry.get(Kind.CONNECTOR, cid.type)
            targets = [q.id.signal for q in cfg.pipelines.values() if cid in q.receivers]
            if factory and targets and not any((pid.signal, t) in factory.pairs for t in targets):
                issues.append(ConfigIssue(path, f'connector "{cid}" cannot take {pid.signal.value} to any pipeline that it feeds ({", ".join(sorted({t.value for t in targets}))})'))


#: Types upstream v0.161.0 lets into a profiles pipeline that otelflow does not (yet): they would
#: have to change or encode profiles, which otelflow only passes through (docs/signals/profiles.md).
PROFILES_UPSTREAM_ONLY = {
    (Kind.RECEIVER, "kafka"), (Kind.EXPORTER, "kafka"), (Kind.PROCESSOR, "filter"), (Kind.PROCESSOR, "transform"),
    (Kind.PROCESSOR, "resource"), (Kind.PROCESSOR, "resource_detection"), (Kind.PROCESSOR, "resourcedetection"),
}


def _unsupported(role: str, cid: ComponentID, pid: PipelineID) -> str:
    """Why a component cannot be in this pipeline, with the error otelcol gives for it."""
    text = f'{role} "{cid}" does not support {pid.signal.value}'
    if pid.signal is Signal.PROFILES and (Kind(role), cid.type) in PROFILES_UPSTREAM_ONLY:
        return text + " in otelflow (otelcol supports it; otelflow passes profiles through unchanged only)"
    return text + f' (otelcol: failed to create "{cid}" {role}, in pipeline "{pid}": telemetry type is not supported)'


def _check_profiles_gate(cfg: CollectorConfig, issues: list[ConfigIssue]) -> None:
    """Upstream's pipelines check: profiles pipelines only with the alpha gate on (the first one named)."""
    if GATES.is_enabled(PROFILES_SUPPORT):
        return
    for pid in cfg.pipelines:
        if pid.signal is Signal.PROFILES:
            issues.append(ConfigIssue("service::pipelines", f'pipeline "{pid}": profiling signal support is at alpha '
                                      f'level, gated under the "{PROFILES_SUPPORT}" feature gate'))
            return


def _check_cycles(cfg: CollectorConfig, issues: list[ConfigIssue]) -> None:
    """Connectors joining pipelines into a loop would pass data round for ever."""
    feeds = {
        pid: [qid for cid in p.exporters if cid in cfg.components[Kind.CONNECTOR]
              for qid, q in cfg.pipelines.items() if cid in q.receivers]
        for pid, p in cfg.pipelines.items()
    }
    done: set[PipelineID] = set()

    def visit(pid: PipelineID, trail: list[PipelineID]) -> bool:
        if pid in trail:
            loop = [*trail[trail.index(pid):], pid]
            issues.append(ConfigIssue("service::pipelines", "connectors form a cycle: " + " -> ".join(map(str, loop))))
            return True
        if pid in done:
            return False
        found = any(visit(q, [*trail, pid]) for q in feeds[pid])
        done.add(pid)
        return found

    for pid in cfg.pipelines:
        if visit(pid, []):
            return


def _note_unused(cfg: CollectorConfig) -> None:
    used = {cid for p in cfg.pipelines.values() for cid in (*p.receivers, *p.processors, *p.exporters)}
    for kind in (Kind.RECEIVER, Kind.PROCESSOR, Kind.EXPORTER, Kind.CONNECTOR):
        for cid in cfg.components[kind]:
            if cid not in used:
                cfg.warnings.append(ConfigIssue(join_path(kind.section, cid), "declared but not used in any pipeline; it will not be started"))
    for cid in cfg.components[Kind.EXTENSION]:
        if cid not in cfg.extensions:
            cfg.warnings.append(ConfigIssue(join_path("extensions", cid), "declared but not listed in service::extensions; it will not be started"))
