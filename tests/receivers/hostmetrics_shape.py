"""The shape of hostmetrics output, values aside: what the golden from otelcol-ref records.

``shape(lines)`` reads OTLP/JSON lines (as the ``file`` exporter writes them) and returns, per
metric name: its scope and schema URL, unit, type, value type, temporality, monotonicity, the
data point attribute keys and the resource attribute keys seen with it.
"""

from __future__ import annotations

import json
from typing import Iterable

TEMPORALITY = {0: "unspecified", 1: "delta", 2: "cumulative"}
# attribute keys whose values are fixed sets (enums), recorded as well; the filesystem's ``type``
# is the machine's file system type and is left out
VALUE_KEYS = ("state", "direction", "type", "protocol", "system.memory.linux.hugepages.state")


def shape(lines: Iterable[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for line in lines:
        if not line.strip():
            continue
        for rm in json.loads(line).get("resourceMetrics", []):
            res_keys = {a["key"] for a in rm.get("resource", {}).get("attributes", [])}
            for sm in rm.get("scopeMetrics", []):
                for m in sm.get("metrics", []):
                    kind = next(k for k in ("sum", "gauge", "histogram", "summary", "exponentialHistogram") if k in m)
                    body = m[kind]
                    entry = out.setdefault(m["name"], {
                        "scope": sm.get("scope", {}).get("name", ""),
                        "schema_url": rm.get("schemaUrl", ""),
                        "unit": m.get("unit", ""),
                        "description": m.get("description", ""),
                        "type": kind,
                        "value_type": set(),
                        "temporality": TEMPORALITY[body.get("aggregationTemporality", 0)] if kind == "sum" else "",
                        "monotonic": bool(body.get("isMonotonic", False)),
                        "attributes": set(),
                        "resource_attributes": set(),
                        "attribute_values": {},
                    })
                    entry["resource_attributes"] |= res_keys
                    for dp in body.get("dataPoints", []):
                        for a in dp.get("attributes", []):
                            entry["attributes"].add(a["key"])
                            if a["key"] in VALUE_KEYS and not (a["key"] == "type" and "filesystem" in m["name"]):
                                value = next(iter(a["value"].values()), "")
                                entry["attribute_values"].setdefault(a["key"], set()).add(value)
                        entry["value_type"] |= {"int" if "asInt" in dp else "double"}
    for entry in out.values():
        for key in ("value_type", "attributes", "resource_attributes"):
            entry[key] = sorted(entry[key])
        entry["attribute_values"] = {k: sorted(v) for k, v in sorted(entry["attribute_values"].items())}
    return dict(sorted(out.items()))
