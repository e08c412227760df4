"""Sampling what-if: replay the traces in the embedded store through a ``tail_sampling`` config and
report what it would keep, before it is deployed.

* :mod:`.policyfile` — the YAML given (the processor's settings or a whole collector config) to the
  validated ``tail_sampling`` configs it holds;
* :mod:`.replay` — stored spans, read in bulk, assembled into protobuf traces and decided by the
  ``tail_sampling`` processor's own decision code;
* :mod:`.report` — the decisions summed per policy, service, route and endpoint, as text or JSON;
* :mod:`.cli` — ``otelflow sampling what-if``.

Docs: ``docs/sampling-what-if.md``.
"""
