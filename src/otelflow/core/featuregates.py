"""Feature gates, as upstream's ``--feature-gates``: named switches for behaviour in transition.

Upstream keeps them in one process-wide registry, set once from the command line before any
config is read; so does otelflow (``REGISTRY``). Components read a gate when they are built, never
per item. Stages follow upstream: alpha gates start off, beta gates on, stable gates are on and
cannot be turned off, deprecated gates are off and cannot be turned on.
"""

from __future__ import annotations

from dataclasses import dataclass

ALPHA, BETA, STABLE, DEPRECATED = "alpha", "beta", "stable", "deprecated"


@dataclass
class Gate:
    id: str
    stage: str
    description: str
    enabled: bool


class GateError(ValueError):
    pass


class Registry:
    def __init__(self) -> None:
        self._gates: dict[str, Gate] = {}

    def register(self, id_: str, stage: str, description: str) -> Gate:
        gate = self._gates.get(id_)
        if gate is None:
            gate = Gate(id_, stage, description, stage in (BETA, STABLE))
            self._gates[id_] = gate
        return gate

    def is_enabled(self, id_: str) -> bool:
        gate = self._gates.get(id_)
        return gate is not None and gate.enabled

    def set(self, id_: str, enabled: bool) -> None:
        gate = self._gates.get(id_)
        if gate is None:
            raise GateError(f'no such feature gate "{id_}"')
        if gate.stage == STABLE and not enabled:
            raise GateError(f'feature gate "{id_}" is stable, can not be disabled')
        if gate.stage == DEPRECATED and enabled:
            raise GateError(f'feature gate "{id_}" is deprecated, can not be enabled')
        gate.enabled = enabled

    def apply(self, spec: str) -> None:
        """``--feature-gates`` text: comma-separated ids, each ``+id`` / ``id`` (on) or ``-id`` (off)."""
        for item in (s.strip() for s in spec.split(",")):
            if not item:
                continue
            if item[0] in "+-":
                self.set(item[1:], item[0] == "+")
            else:
                self.set(item, True)

    def gates(self) -> list[Gate]:
        return sorted(self._gates.values(), key=lambda g: g.id)


REGISTRY = Registry()

# service (core): a config with a profiles pipeline is refused unless this is on (docs/signals/profiles.md)
PROFILES_SUPPORT = REGISTRY.register(
    "service.profilesSupport", ALPHA, "Controls whether profiles support can be enabled").id

# exporterhelper: sending_queue.batch is on by default for exporters whose queue defaults are
# upstream's NewDefaultQueueConfig (config/settings.py QueueSettings.batch_settings)
QUEUE_BATCH_ENABLED = REGISTRY.register(
    "pkg.exporterhelper.queueBatchEnabled", ALPHA,
    "Enables exporterhelper batching by default in NewDefaultQueueConfig, as described in the batching migration RFC.").id

OTTL_LAMBDA = REGISTRY.register(
    "ottl.functions.enableLambda", ALPHA,
    "Allow OTTL functions to take lambda arguments. When disabled, lambda arguments are rejected.").id
OTTL_SET_ALLOW_NIL = REGISTRY.register(
    "ottl.set.allowNil", BETA, "When enabled, the set function passes nil values directly to the target.").id
REGISTRY.register("ottl.contexts.enableOTelColContext", STABLE, "Enable the `otelcol` context for OTTL.")

# exporter/prometheusremotewriteexporter (registered here so --feature-gates knows them before the
# exporter is imported)
PRW_RETRY_ON_429 = REGISTRY.register(
    "exporter.prometheusremotewritexporter.RetryOn429", ALPHA,
    "When enabled, the Prometheus remote write exporter will retry 429 http status code. "
    "Requires exporter.prometheusremotewritexporter.metrics.RetryOn429 to be enabled.").id
PRW_MULTIPLE_WORKERS = REGISTRY.register(
    "exporter.prometheusremotewritexporter.EnableMultipleWorkers", ALPHA,
    "When enabled and settings configured, the Prometheus remote exporter will spawn multiple "
    "workers/goroutines to handle incoming metrics batches concurrently.").id
PRW_SEND_RW2 = REGISTRY.register(
    "exporter.prometheusremotewritexporter.enableSendingRW2", ALPHA,
    "When enabled, the Prometheus remote write exporter will support sending rw2. Extra configuration "
    "is still required besides enabling this feature gate.").id
PRW_REMOVE_TOP_LEVEL_HTTP = REGISTRY.register(
    "exporter.prometheusremotewritexporter.removeTopLevelHTTPSettings", ALPHA,
    "When enabled, it rejects top-level HTTP client settings (e.g. endpoint, tls, proxy_url); "
    "configure them under the http block instead.").id
PRW_DISABLE_RESOURCE_TO_TELEMETRY = REGISTRY.register(
    "exporter.prometheusremotewrite.DisableResourceToTelemetryConversion", ALPHA,
    "When enabled, the deprecated resource_to_telemetry_conversion section and legacy conversion fields "
    "are disabled, and resource_constant_labels must be used instead").id

# receiver/prometheusreceiver and receiver/hostmetricsreceiver (the receivers register the same ids
# again on import, which returns these)
REGISTRY.register(
    "receiver.prometheusreceiver.IgnoreScopeInfoMetric", BETA,
    "When enabled, the `otel_scope_info` metric is ignored for scope attribute extraction.")
REGISTRY.register(
    "receiver.prometheusreceiver.EnableCreatedTimestampZeroIngestion", ALPHA,
    "Enables the Prometheus created-timestamps-zero-injection feature (not implemented by otelflow).")
REGISTRY.register(
    "receiver.hostmetricsreceiver.UseLinuxMemAvailable", BETA,
    "When enabled, the used value for the system.memory.usage and system.memory.utilization metrics will be based "
    "on the Linux kernel's MemAvailable statistic instead of MemFree, Buffers, and Cached.")
