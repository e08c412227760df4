"""Targets: what static_configs and file_sd_configs discover, and the labels Prometheus gives them.

``targets_from_group`` is Prometheus' PopulateLabels: discovered labels plus the job's defaults
(``job``, ``__scheme__``, ``__metrics_path__``, ``__scrape_interval__``, ...), then relabel_configs,
then ``__meta_*`` removed and ``instance`` defaulted to ``__address__``. File SD reads its files in a
thread (YAML or JSON target groups) and reports what changed.
"""

from __future__ import annotations

import asyncio
import glob
import json
import logging
from dataclasses import dataclass, field
from urllib.parse import urlencode

import yaml

from otelflow.receivers.prometheus import relabel
from otelflow.receivers.prometheus.config import FileSDConfig, ScrapeConfig
from otelflow.receivers.prometheus.promtypes import format_duration_ms, parse_duration_ms


@dataclass
class TargetGroup:
    source: str
    targets: list[dict[str, str]]
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Target:
    labels: dict[str, str]  # final labels, reserved ones (``__address__`` ...) included
    discovered: dict[str, str]  # labels before relabelling
    interval_ms: int
    timeout_ms: int

    @property
    def public(self) -> dict[str, str]:
        return {k: v for k, v in self.labels.items() if not k.startswith("__")}

    def url(self, cfg: ScrapeConfig) -> str:
        params: dict[str, list[str]] = {k: list(v) for k, v in cfg.params.items()}
        for name, value in self.labels.items():
            if name.startswith("__param_"):
                key = name[len("__param_"):]
                if params.get(key):
                    params[key][0] = value
                else:
                    params[key] = [value]
        query = urlencode(sorted((k, v) for k, vs in params.items() for v in vs))
        scheme = self.labels.get("__scheme__", "http")
        path = self.labels.get("__metrics_path__", "/metrics")
        return f"{scheme}://{self.labels['__address__']}{path}" + (f"?{query}" if query else "")

    def key(self, cfg: ScrapeConfig) -> tuple:
        return tuple(sorted(self.labels.items())), self.url(cfg)


def static_groups(cfg: ScrapeConfig) -> list[TargetGroup]:
    return [
        TargetGroup(f"{i}", [{"__address__": t} for t in sc.targets], dict(sc.labels))
        for i, sc in enumerate(cfg.static_configs)
    ]


def targets_from_group(group: TargetGroup, cfg: ScrapeConfig, rules: list[relabel.Rule],
                       log: logging.Logger) -> list[Target]:
    out = []
    for i, tlabels in enumerate(group.targets):
        try:
            target = _populate(cfg, tlabels, group.labels, rules)
        except ValueError as exc:
            log.error("Creating target failed: instance %d in group %s: %s", i, group.source, exc)
            continue
        if target is not None:
            out.append(target)
    return out


def _populate(cfg: ScrapeConfig, tlabels: dict[str, str], glabels: dict[str, str],
              rules: list[relabel.Rule]) -> Target | None:
    lb = dict(tlabels)
    for k, v in glabels.items():
        lb.setdefault(k, v)
    defaults = {
        "job": cfg.job_name,
        "__scrape_interval__": format_duration_ms(cfg.scrape_interval),
        "__scrape_timeout__": format_duration_ms(cfg.scrape_timeout),
        "__metrics_path__": cfg.metrics_path,
        "__scheme__": cfg.scheme,
        "__convert_classic_histograms_to_nhcb__": "true" if cfg.convert_classic_histograms_to_nhcb else "false",
        "__always_scrape_classic_histograms__": "true" if cfg.always_scrape_classic_histograms else "false",
        "__scrape_native_histograms__": "true" if cfg.scrape_native_histograms else "false",
    }
    for k, v in defaults.items():
        if not lb.get(k):
            lb[k] = v
    for k, vs in cfg.params.items():
        name = "__param_" + k
        if vs and not lb.get(name):
            lb[name] = vs[0]
    lb = {k: v for k, v in lb.items() if v != ""}
    discovered = dict(lb)
    if relabel.process(lb, rules) is None:
        return None
    addr = lb.get("__address__", "")
    if not addr:
        raise ValueError("no address")
    if "/" in addr:
        raise ValueError(f'"{addr}" is not a valid hostname')
    interval = _duration(lb.get("__scrape_interval__", ""), "interval")
    timeout = _duration(lb.get("__scrape_timeout__", ""), "timeout")
    if timeout > interval:
        raise ValueError(f'scrape timeout cannot be greater than scrape interval ("{lb["__scrape_timeout__"]}" > '
                         f'"{lb["__scrape_interval__"]}")')
    for name in [k for k in lb if k.startswith("__meta_")]:
        del lb[name]
    if not lb.get("instance"):
        lb["instance"] = addr
    return Target(lb, discovered, interval, timeout)


def _duration(text: str, what: str) -> int:
    try:
        ms = parse_duration_ms(text)
    except ValueError as exc:
        raise ValueError(f"error parsing scrape {what}: {exc}") from None
    if ms == 0:
        raise ValueError(f"scrape {what} cannot be 0")
    return ms


def read_file_groups(sd: FileSDConfig) -> dict[str, list[TargetGroup]]:
    """Every file the patterns match, parsed into target groups (blocking: run it in a thread)."""
    out: dict[str, list[TargetGroup]] = {}
    for pattern in sd.files:
        for path in sorted(glob.glob(pattern)):
            try:
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
                data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
                groups = []
                for i, item in enumerate(data or []):
                    targets = [{"__address__": str(t)} for t in (item.get("targets") or [])]
                    labels = {str(k): str(v) for k, v in (item.get("labels") or {}).items()}
                    labels["__meta_filepath"] = path
                    groups.append(TargetGroup(f"{path}:{i}", targets, labels))
                out[path] = groups
            except (OSError, ValueError, yaml.YAMLError, AttributeError, TypeError) as exc:
                logging.getLogger(__name__).error("Error reading file %s: %s", path, exc)
    return out


async def watch_files(sd: FileSDConfig, on_change, stop: asyncio.Event) -> None:
    """Re-read the files every refresh_interval (and at once), calling ``on_change(groups)`` on change."""
    last = None
    interval = max(sd.refresh_interval / 1000.0, 0.05)
    while not stop.is_set():
        groups = await asyncio.to_thread(read_file_groups, sd)
        flat = [g for path in sorted(groups) for g in groups[path]]
        if flat != last:
            last = flat
            on_change(flat)
        try:
            # upstream also watches the files with fsnotify; a 1 s poll stands in for that
            await asyncio.wait_for(stop.wait(), timeout=min(interval, 1.0))
        except asyncio.TimeoutError:
            pass
