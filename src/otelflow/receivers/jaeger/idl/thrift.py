"""Jaeger's Thrift IDL loaded with thriftpy2 at import time (no generated code is kept)."""

from __future__ import annotations

from pathlib import Path

import thriftpy2

_HERE = Path(__file__).parent
jaeger = thriftpy2.load(str(_HERE / "jaeger.thrift"), module_name="otelflow_jaeger_thrift")
agent = thriftpy2.load(str(_HERE / "agent.thrift"), module_name="otelflow_jaeger_agent_thrift",
                       include_dirs=[str(_HERE)])

Batch = jaeger.Batch
EmitBatchArgs = agent.Agent.emitBatch_args
