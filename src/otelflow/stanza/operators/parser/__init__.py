"""Parser operators; importing this package registers them."""

from otelflow.stanza.operators.parser import (  # noqa: F401 - imported to register
    csv_parser,
    json_parser,
    key_value_parser,
    regex_parser,
    standalone,
    syslog_parser,
)
