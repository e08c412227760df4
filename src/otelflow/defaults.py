"""The config ``otelflow`` runs when given none: the all-in-one local stack.

OTLP in on the standard ports (localhost only), every signal into the embedded store, and the web UI
on http://localhost:4380. It is an ordinary config: print it with ``--print-default-config``, copy it,
and add exporters to real backends next to ``embedded_store``.
"""

DEFAULT_CONFIG = """\
# otelflow all-in-one: receive OTLP, keep it in an embedded store, browse it at http://localhost:4380
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: localhost:4317
      http:
        endpoint: localhost:4318

exporters:
  embedded_store:
    store: embedded_store

extensions:
  embedded_store:
    # empty: --data-dir, else $OTELFLOW_DATA_DIR, else ~/.local/share/otelflow
    directory: ""
    retention:
      max_age: 72h
      max_size_mib: 1024
  web_ui:
    endpoint: localhost:4380
    store: embedded_store
  # watches the traffic for common SDK mistakes: http://localhost:4380/#/doctor, `otelflow doctor --url`
  doctor:

service:
  extensions: [embedded_store, web_ui, doctor]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [embedded_store]
    metrics:
      receivers: [otlp]
      exporters: [embedded_store]
    logs:
      receivers: [otlp]
      exporters: [embedded_store]
"""
