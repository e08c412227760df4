"""Consistent probability sampling arithmetic, as upstream's ``pkg/sampling`` defines it.

* :mod:`.threshold` — 56-bit thresholds and randomness values, their ``th``/``rv`` hex encodings and
  the probability → threshold conversion with a given precision.
* :mod:`.tracestate` — the W3C ``tracestate`` header with its OpenTelemetry ``ot`` member, parsed
  and serialized the way upstream does (including its error cases).
* :mod:`.gocompat` — the few pieces of Go behaviour the sampler's decisions depend on: FNV-1a,
  float32 rounding, ``strconv.ParseFloat`` and pdata's ``Value.AsString``.
"""
