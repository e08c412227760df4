"""``INFO all`` text to upstream's redis metrics: which INFO field feeds which metric, and how."""

from __future__ import annotations

import logging

from otelflow.receivers.hostmetrics.builder import MetricsBuilder

# INFO field -> (metric, extra attributes); the value type comes from the metric's metadata
FIELDS: dict[str, tuple[str, dict[str, str]]] = {
    "blocked_clients": ("redis.clients.blocked", {}),
    "client_recent_max_input_buffer": ("redis.clients.max_input_buffer", {}),
    "client_recent_max_output_buffer": ("redis.clients.max_output_buffer", {}),
    "cluster_enabled": ("redis.cluster.cluster_enabled", {}),
    "connected_clients": ("redis.clients.connected", {}),
    "connected_slaves": ("redis.slaves.connected", {}),
    "evicted_keys": ("redis.keys.evicted", {}),
    "expired_keys": ("redis.keys.expired", {}),
    "instantaneous_ops_per_sec": ("redis.commands", {}),
    "keyspace_hits": ("redis.keyspace.hits", {}),
    "keyspace_misses": ("redis.keyspace.misses", {}),
    "latest_fork_usec": ("redis.latest_fork", {}),
    "master_repl_offset": ("redis.replication.offset", {}),
    "maxmemory": ("redis.maxmemory", {}),
    "mem_fragmentation_ratio": ("redis.memory.fragmentation_ratio", {}),
    "rdb_changes_since_last_save": ("redis.rdb.changes_since_last_save", {}),
    "rejected_connections": ("redis.connections.rejected", {}),
    "repl_backlog_first_byte_offset": ("redis.replication.backlog_first_byte_offset", {}),
    "slave_repl_offset": ("redis.replication.replica_offset", {}),
    "total_commands_processed": ("redis.commands.processed", {}),
    "total_connections_received": ("redis.connections.received", {}),
    "total_net_input_bytes": ("redis.net.input", {}),
    "total_net_output_bytes": ("redis.net.output", {}),
    "tracking_total_keys": ("redis.tracking_total_keys", {}),
    "uptime_in_seconds": ("redis.uptime", {}),
    "used_cpu_sys": ("redis.cpu.time", {"state": "sys"}),
    "used_cpu_sys_children": ("redis.cpu.time", {"state": "sys_children"}),
    "used_cpu_sys_main_thread": ("redis.cpu.time", {"state": "sys_main_thread"}),
    "used_cpu_user": ("redis.cpu.time", {"state": "user"}),
    "used_cpu_user_children": ("redis.cpu.time", {"state": "user_children"}),
    "used_cpu_user_main_thread": ("redis.cpu.time", {"state": "user_main_thread"}),
    "used_memory": ("redis.memory.used", {}),
    "used_memory_lua": ("redis.memory.lua", {}),
    "used_memory_overhead": ("redis.memory.used_memory_overhead", {}),
    "used_memory_peak": ("redis.memory.peak", {}),
    "used_memory_rss": ("redis.memory.rss", {}),
    "used_memory_startup": ("redis.memory.used_memory_startup", {}),
    "cluster_slots_assigned": ("redis.cluster.slots_assigned", {}),
    "cluster_slots_ok": ("redis.cluster.slots_ok", {}),
    "cluster_slots_pfail": ("redis.cluster.slots_pfail", {}),
    "cluster_slots_fail": ("redis.cluster.slots_fail", {}),
    "cluster_known_nodes": ("redis.cluster.known_nodes", {}),
    "node_count": ("redis.cluster.node.count", {}),
    "cluster_uptime": ("redis.cluster.uptime", {}),
    "node_uptime": ("redis.cluster.node.uptime", {}),
    "cluster_stats_messages_sent": ("redis.cluster.stats_messages_sent", {}),
    "cluster_stats_messages_received": ("redis.cluster.stats_messages_received", {}),
    "links_buffer_limit_exceeded.count": ("redis.cluster.links_buffer_limit_exceeded.count", {}),
    "pubsub_channels": ("redis.pubsub.channel.status", {"redis.pubsub.channel.state": "active"}),
    "pubsub_clients": ("redis.pubsub.connection.count", {}),
    "pubsub_patterns": ("redis.pubsub.pattern.status", {"redis.pubsub.pattern.state": "active"}),
    "pubsub_shardchannels": ("redis.pubsub.channel.status", {"redis.pubsub.channel.state": "shard"}),
    "sentinel_masters": ("redis.sentinel.masters", {}),
    "sentinel_tilt_since_seconds": ("redis.sentinel.tilt_since_seconds", {}),
    "sentinel_total_tilt": ("redis.sentinel.total_tilt", {}),
    "sentinel_running_scripts": ("redis.sentinel.running_scripts", {}),
    "sentinel_scripts_queue_length": ("redis.sentinel.scripts_queue_length", {}),
    "sentinel_simulate_failure_flags": ("redis.sentinel.simulate_failure_flags", {}),
}
PERCENTILES = ("p50", "p99", "p99.9")
MAX_DBS = 16


def parse(text: str) -> dict[str, str]:
    """``key:value`` lines; as upstream, a line with more or fewer than one ``:`` is skipped."""
    out = {}
    for line in text.split("\r\n"):
        if not line or line.startswith("#"):
            continue
        pair = line.split(":")
        if len(pair) == 2:
            out[pair[0]] = pair[1]
    return out


def _go_int(text: str) -> int:
    if not text or text.strip() != text or "_" in text:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    return int(text, 10)


def _go_float(text: str) -> float:
    if not text or text.strip() != text or "_" in text:
        raise ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax')
    return float(text)


def record(mb: MetricsBuilder, ts: int, info: dict[str, str], log: logging.Logger) -> None:
    """Records every metric the INFO fields give (the builder drops the disabled ones)."""
    for key, text in info.items():
        if key in FIELDS:
            name, attrs = FIELDS[key]
            double = mb.metrics[name].spec["value_type"] == "double"
            try:
                value = _go_float(text) if double else _go_int(text)
            except ValueError as exc:
                log.warning("failed to parse info %s val (key %s, val %s): %s", "float" if double else "int",
                            key, text, exc)
                continue
            mb.record(name, ts, value, **attrs)
        elif key == "cluster_state":
            # upstream's recorder wants an int, so the "ok"/"fail" text never parses
            log.warning("failed to parse info int val (key %s, val %s)", key, text)
        elif key.startswith("cmdstat_"):
            _cmdstat(mb, ts, key[len("cmdstat_"):], text)
        elif key.startswith("latency_percentiles_usec_"):
            _latency(mb, ts, key[len("latency_percentiles_usec_"):], text)
    for db in range(MAX_DBS):
        text = info.get(f"db{db}")
        if text is None:
            continue
        try:
            fields = _keyspace(text)
        except ValueError as exc:
            log.warning("failed to parse keyspace string (key db%d, val %s): %s", db, text, exc)
            continue
        mb.record("redis.db.keys", ts, fields.get("keys", 0), db=str(db))
        mb.record("redis.db.expires", ts, fields.get("expires", 0), db=str(db))
        mb.record("redis.db.avg_ttl", ts, fields.get("avg_ttl", 0), db=str(db))
    if "role" in info:
        mb.record("redis.role", ts, 1, role="primary" if info["role"] == "master" else "replica")
    mode = info.get("redis_mode", "unknown")
    if mode in ("cluster", "sentinel", "standalone"):
        mb.record("redis.mode", ts, 1, mode=mode)


def _keyspace(text: str) -> dict[str, int]:
    out = {}
    for pair in text.split(","):
        parts = pair.split("=")
        if len(parts) != 2:
            raise ValueError(f"unexpected keyspace pair '{pair}'")
        if parts[0] in ("keys", "expires", "avg_ttl"):
            out[parts[0]] = _go_int(parts[1])
    return out


def _cmdstat(mb: MetricsBuilder, ts: int, cmd: str, text: str) -> None:
    for element in text.strip().split(","):
        parts = element.split("=")
        if len(parts) == 1:
            continue
        try:
            value = _go_int(parts[1])
        except ValueError:
            continue
        if parts[0] == "calls":
            mb.record("redis.cmd.calls", ts, value, cmd=cmd)
        elif parts[0] == "usec":
            mb.record("redis.cmd.usec", ts, value, cmd=cmd)


def _latency(mb: MetricsBuilder, ts: int, cmd: str, text: str) -> None:
    values = {}
    for pair in text.strip().split(","):
        parts = pair.split("=")
        if len(parts) != 2:
            return
        try:
            values[parts[0]] = _go_float(parts[1])
        except ValueError:
            return
    for percentile, usec in values.items():
        if percentile in PERCENTILES:
            mb.record("redis.cmd.latency", ts, usec / 1e6, cmd=cmd, percentile=percentile)
