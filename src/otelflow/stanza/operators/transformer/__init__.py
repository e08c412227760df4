"""Transformer operators (move, copy, add, remove, flatten, retain, noop, router, filter, recombine,
unquote, assign_keys);
importing this package registers them, and the container parser that lives beside the parsers."""

from otelflow.stanza.operators.transformer import fields, filter, recombine, router, unquote  # noqa: F401 - registers
from otelflow.stanza.operators.parser import container  # noqa: F401 - registers `container`
