"""The attribute action engine shared by the ``attributes`` and ``resource`` processors.

As upstream's ``internal/coreinternal/attraction`` (v0.161.0): a list of actions (insert, update,
upsert, delete, hash, extract, convert) checked and compiled once at config time (``actions``),
then applied in order to one attribute list at a time (``proc``). It works directly on the protobuf
``repeated KeyValue`` field and mirrors pcommon.Map's list semantics, so the output order of
attributes is upstream's:

- a lookup finds the first entry with the key;
- a new key is appended at the end, an existing key is changed in place;
- removing one key moves the last entry into its slot (pcommon.Map.Remove), while removing by
  ``pattern`` keeps the order of what is left (pcommon.Map.RemoveIf).

``native`` runs the common actions on a whole encoded request in C, with the Python loop as the
reference and fallback. Also here, because both the actions and the include/exclude matching need
them: AnyValue helpers with upstream's exact semantics (``values``, ``convert``). Go regexes
(``GoRegexp``) come from ``otelflow.pdata.goregexp``, shared with OTTL.
"""

from otelflow.pdata.goregexp import GoRegexp, GoRegexpError
from otelflow.processors.attraction.actions import (
    CONVERT,
    CONVERT_TARGETS,
    DELETE,
    EXTRACT,
    HASH,
    INSERT,
    UPDATE,
    UPSERT,
    Action,
    ActionConfig,
    DropNulls,
    compile_actions,
)
from otelflow.processors.attraction.convert import convert_value, parse_go_float, parse_go_int
from otelflow.processors.attraction.native import NativeActions, native_actions
from otelflow.processors.attraction.proc import AttrProc, ClientInfo, context_value
from otelflow.processors.attraction.values import (
    INT64_MAX,
    INT64_MIN,
    as_string,
    canonical,
    go_quote,
    hash_value,
    type_name,
    value_from_raw,
)

__all__ = [
    "CONVERT", "CONVERT_TARGETS", "DELETE", "EXTRACT", "HASH", "INSERT", "UPDATE", "UPSERT", "INT64_MAX",
    "INT64_MIN", "Action", "ActionConfig", "AttrProc", "ClientInfo", "DropNulls", "GoRegexp", "GoRegexpError",
    "NativeActions", "as_string", "canonical", "compile_actions", "context_value", "convert_value", "go_quote",
    "hash_value", "native_actions", "parse_go_float", "parse_go_int", "type_name", "value_from_raw",
]
