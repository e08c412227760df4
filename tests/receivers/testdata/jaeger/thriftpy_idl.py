"""The receiver's Thrift IDL loaded with thriftpy2, to encode test input with a Thrift library other
than the one the receiver decodes with (Apache Thrift's generated code)."""

from __future__ import annotations

from pathlib import Path

import thriftpy2

import otelflow.receivers.jaeger.idl as _idl

IDL = Path(_idl.__file__).parent
jaeger = thriftpy2.load(str(IDL / "jaeger.thrift"), module_name="jaeger_thrift")
agent = thriftpy2.load(str(IDL / "agent.thrift"), module_name="agent_thrift", include_dirs=[str(IDL)])
