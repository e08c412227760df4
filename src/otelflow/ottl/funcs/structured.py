"""Converters between strings, slices and maps: ParseCSV, ParseSeverity, ToKeyValueString,
SliceToMap and Sort (upstream ottlfuncs at v0.161.0).

ParseCSV reads with a port of Go's encoding/csv reader (byte columns, its error texts, the way
upstream stitches records split by newlines back into one row).
"""

from __future__ import annotations

import math
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otelflow.pdata.govalue import value_as_string

from ..errors import OttlConfigError, OttlError
from ..values import PMap, PSlice, get_value, new_pmap, new_pslice, set_value, to_raw, type_name, value_type_name
from ..functions import FunctionTable, Kind as K, P
from ._gofmt import _v as go_v
from ._util import go_quote, literal_of

T = FunctionTable()

# ---------------------------------------------------------------------------------------------
# encoding/csv


class _CsvError(Exception):
    pass


_ERR_BARE_QUOTE = 'bare " in non-quoted-field'
_ERR_QUOTE = 'extraneous or missing " in quoted-field'


def _csv_error(start: int, line: int, col: int, err: str) -> _CsvError:
    if start != line:
        return _CsvError(f"record on line {start}; parse error on line {line}, column {col}: {err}")
    return _CsvError(f"parse error on line {line}, column {col}: {err}")


class _CsvReader:
    """encoding/csv.Reader with FieldsPerRecord = -1, no comments, no TrimLeadingSpace."""

    def __init__(self, data: bytes, comma: str, lazy: bool):
        self.data = data
        self.off = 0
        self.comma = comma.encode("utf-8", "surrogatepass")
        self.comma_rune = comma
        self.lazy = lazy
        self.num_line = 0

    def _read_line(self) -> bytes:
        """The next line with its \\n (b"" at EOF); counts lines as Go does, EOF included."""
        self.num_line += 1
        if self.off >= len(self.data):
            return b""
        j = self.data.find(b"\n", self.off)
        if j < 0:
            line = self.data[self.off:]
            self.off = len(self.data)
            if line.endswith(b"\r"):
                line = line[:-1]
        else:
            line = self.data[self.off:j + 1]
            self.off = j + 1
        if line.endswith(b"\r\n"):
            line = line[:-2] + b"\n"
        return line

    def read(self) -> tuple[list[str] | None, _CsvError | None]:
        """One record; None at EOF. A parse error comes with the fields read before it."""
        c = self.comma_rune
        if c in ("\x00", '"', "\r", "\n", "\ufffd") or 0xD800 <= ord(c) <= 0xDFFF:
            return [], _CsvError("csv: invalid field or comment delimiter")
        while True:
            if self.off >= len(self.data):
                self.num_line += 1
                return None, None
            line = self._read_line()
            if line in (b"\n", b""):  # an empty line (a lone \r at EOF too) is skipped
                continue
            break
        comma, clen = self.comma, len(self.comma)
        rec_line = self.num_line
        buf = bytearray()
        idx: list[int] = []
        pos_line, col = self.num_line, 1
        err = None

        def nl(b: bytes) -> int:
            return 1 if b.endswith(b"\n") else 0

        while True:
            if not line or line[0:1] != b'"':
                i = line.find(comma)
                field = line[:i] if i >= 0 else line[:len(line) - nl(line)]
                if not self.lazy:
                    j = field.find(b'"')
                    if j >= 0:
                        err = _csv_error(rec_line, self.num_line, col + j, _ERR_BARE_QUOTE)
                        break
                buf += field
                idx.append(len(buf))
                if i >= 0:
                    line = line[i + clen:]
                    col += i + clen
                    continue
                break
            line = line[1:]
            col += 1
            next_field = False
            while True:
                i = line.find(b'"')
                if i >= 0:
                    buf += line[:i]
                    line = line[i + 1:]
                    col += i + 1
                    if line[:1] == b'"':
                        buf += b'"'
                        line = line[1:]
                        col += 1
                    elif line.startswith(comma):
                        line = line[clen:]
                        col += clen
                        idx.append(len(buf))
                        next_field = True
                        break
                    elif nl(line) == len(line):
                        idx.append(len(buf))
                        break
                    elif self.lazy:
                        buf += b'"'
                    else:
                        err = _csv_error(rec_line, self.num_line, col - 1, _ERR_QUOTE)
                        break
                elif line:
                    buf += line
                    col += len(line)
                    line = self._read_line()
                    if line:
                        pos_line += 1
                        col = 1
                else:
                    if not self.lazy:
                        err = _csv_error(rec_line, pos_line, col, _ERR_QUOTE)
                        break
                    idx.append(len(buf))
                    break
            if not next_field:
                break
        text = bytes(buf)
        out, prev = [], 0
        for k in idx:
            out.append(text[prev:k].decode("utf-8", "replace"))
            prev = k
        return out, err


def read_csv_row(row: str, delimiter: str, lazy: bool) -> list[str]:
    """parseutils.ReadCSVRow: a row whose fields may hold newlines (records joined back)."""
    reader = _CsvReader(row.encode("utf-8", "surrogateescape"), delimiter, lazy)
    lines: list[list[str]] = []
    while True:
        rec, err = reader.read()
        if rec is None:
            break
        if err is not None and not rec:
            raise OttlError(f"read csv line: {err}")
        lines.append(rec)
    if not lines:
        raise OttlError("no csv lines found")
    joined = lines[0]
    for nxt in lines[1:]:
        joined[-1] += "\n" + nxt[0]
        joined.extend(nxt[1:])
    return joined


@T.function("ParseCSV", P("target", K.STRING_GETTER), P("header", K.STRING_GETTER),
            P("delimiter", K.STRING, optional=True), P("header_delimiter", K.STRING, optional=True),
            P("mode", K.STRING, optional=True))
def build_parse_csv(target, header, delimiter=None, header_delimiter=None, mode=None):
    if delimiter is not None and len(delimiter) != 1:
        raise OttlConfigError("invalid arguments: delimiter must be a single character")
    if header_delimiter is not None and len(header_delimiter) != 1:
        raise OttlConfigError("invalid arguments: header_delimiter must be a single character")
    delim = "," if delimiter is None else delimiter
    hdelim = delim if header_delimiter is None else header_delimiter
    mode = "strict" if mode is None else mode
    if mode not in ("strict", "lazyQuotes", "ignoreQuotes"):
        raise OttlConfigError(f"unknown mode: {mode}")

    def run(ctx):
        row = target(ctx)
        head = header(ctx)
        if head == "":
            raise OttlError("headers must not be an empty string")
        headers = head.split(hdelim)
        if mode == "ignoreQuotes":
            fields = row.split(delim)
        else:
            fields = read_csv_row(row, delim, mode == "lazyQuotes")
        if len(fields) != len(headers):
            raise OttlError(f"map csv headers: wrong number of fields: expected {len(headers)}, found {len(fields)}")
        out: dict[str, Any] = {}
        for h, f in zip(headers, fields):
            out[h] = f
        return new_pmap(out)
    return run


# ---------------------------------------------------------------------------------------------
# ParseSeverity

_HTTP_RANGES = {"2xx": (200, 299), "3xx": (300, 399), "4xx": (400, 499), "5xx": (500, 599)}


def _criteria(m: dict) -> tuple[list[str], tuple[int, int] | None]:
    equals: list[str] = []
    rng = None
    if "equals" in m:
        lst = m["equals"]
        if not isinstance(lst, list):
            raise ValueError("equals must be a list")
        for eq in lst:
            if not isinstance(eq, str):
                raise ValueError("equals values must be strings")
            equals.append(eq)
    if "range" in m:
        r = m["range"]
        if isinstance(r, dict):
            if "min" not in r:
                raise ValueError("range must have a min value")
            if "max" not in r:
                raise ValueError("range must have a max value")
            lo, hi = r["min"], r["max"]
            if type(lo) is not int:
                raise ValueError("min must be an int64")
            if type(hi) is not int:
                raise ValueError("max must be an int64")
            rng = (lo, hi)
        elif isinstance(r, str):
            if r not in _HTTP_RANGES:
                raise ValueError(f"unknown range placeholder: {r}")
            rng = _HTTP_RANGES[r]
        else:
            raise ValueError("range must be a map or a known placeholder string")
    return equals, rng


def _fail(msg: str):
    def run(ctx):
        raise OttlError(msg)
    return run


def _closure_var(fn: Any, name: str) -> Any:
    code = getattr(fn, "__code__", None)
    if code is None or name not in code.co_freevars or not fn.__closure__:
        return None
    return fn.__closure__[code.co_freevars.index(name)].cell_contents


def _static(getter: Any) -> bool:
    """Whether a compiled getter is built from literals only: a Constant, or a map or list literal
    of them (the compiler gives those as closures over their item getters)."""
    if getattr(getter, "is_literal", False) and not callable(getattr(getter, "__code__", None)):
        return True
    inner = _closure_var(getter, "get")
    if inner is not None:
        return _static(inner)
    items = _closure_var(getter, "items")
    if isinstance(items, list):
        return all(_static(i[1] if isinstance(i, tuple) else i) for i in items)
    return False


def literal_map(getter: Any) -> tuple[bool, Any]:
    """GetLiteralValue for a map argument: map literals count even where the compiler did not mark
    them (it marks scalars and lists of scalars only)."""
    ok, v = literal_of(getter)
    if ok:
        return ok, v
    if _static(getter):
        try:
            return True, getter(None)
        except Exception:  # noqa: BLE001
            return False, None
    return False, None


@T.function("ParseSeverity", P("target", K.GETTER), P("mapping", K.PMAP_GETTER))
def build_parse_severity(target, mapping):
    ok, lit = literal_map(mapping)
    if not ok:
        return _fail("severity mapping must be a literal PMap")
    raw = to_raw(lit)
    levels: list[tuple[str, list]] = []
    for level, crit_list in raw.items():
        if not isinstance(crit_list, list):
            return _fail("severity mapping criteria must be []any")
        crits = []
        for c in crit_list:
            if not isinstance(c, dict):
                return _fail("severity mapping criteria items must be map[string]any")
            try:
                crits.append(_criteria(c))
            except ValueError as e:
                return _fail(f"invalid severity mapping criteria: {e}")
        levels.append((level, crits))

    def run(ctx):
        v = target(ctx)
        if isinstance(v, AnyValue):
            v = get_value(v)
        for level, crits in levels:
            for equals, rng in crits:
                if isinstance(v, str):
                    hit = v in equals
                elif type(v) is int:
                    hit = rng is not None and rng[0] <= v <= rng[1]
                else:
                    raise OttlError(f"could not map log level: could not evaluate log level of value "
                                    f"'{go_v(v)}': unsupported value type: {type_name(v)}")
                if hit:
                    return level
        raise OttlError(f"could not map log level: no matching log level found for value '{go_v(v)}'")
    return run


# ---------------------------------------------------------------------------------------------
# ToKeyValueString


def _kv_quote(s: str, delimiter: str, pair_delimiter: str) -> str:
    s = s.replace('"', '\\"')
    if pair_delimiter in s or delimiter in s:
        s = '"' + s + '"'
    return s


@T.function("ToKeyValueString", P("target", K.PMAP_GETTER), P("delimiter", K.STRING, optional=True),
            P("pair_delimiter", K.STRING, optional=True), P("sort_output", K.BOOL, optional=True))
def build_to_key_value_string(target, delimiter=None, pair_delimiter=None, sort_output=None):
    if delimiter is not None and delimiter == "":
        raise OttlConfigError("delimiter cannot be set to an empty string")
    if pair_delimiter is not None and pair_delimiter == "":
        raise OttlConfigError("pair delimiter cannot be set to an empty string")
    d = "=" if delimiter is None else delimiter
    pd = " " if pair_delimiter is None else pair_delimiter
    if d == pd:
        raise OttlConfigError(f"pair delimiter {go_quote(pd)} cannot be equal to delimiter {go_quote(d)}")

    def run(ctx):
        m = target(ctx)
        items = list(m.items()) if isinstance(m, PMap) else [(k, _as_value(v)) for k, v in m.items()]
        if sort_output:
            items.sort(key=lambda kv: kv[0].encode("utf-8", "surrogateescape"))
        return pd.join(_kv_quote(k, d, pd) + d + _kv_quote(value_as_string(v), d, pd) for k, v in items)
    return run


def _as_value(v: Any) -> AnyValue:
    av = AnyValue()
    set_value(av, v)
    return av


# ---------------------------------------------------------------------------------------------
# SliceToMap


def _extract(m: PMap, path: list[str], full: list[str]) -> AnyValue:
    if not path:
        raise OttlError("must provide at least one path item")
    v = m.get(path[0])
    if v is None:
        raise OttlError(f"provided object does not contain the path [{' '.join(full)}]")
    if len(path) == 1:
        return v
    if v.WhichOneof("value") != "kvlist_value":
        raise OttlError(f"provided object does not contain the path [{' '.join(full)}]")
    return _extract(PMap(v.kvlist_value.values), path[1:], path[1:])


@T.function("SliceToMap", P("target", K.PSLICE_GETTER), P("key_path", K.STRING, optional=True, is_list=True),
            P("value_path", K.STRING, optional=True, is_list=True))
def build_slice_to_map(target, key_path=None, value_path=None):
    def run(ctx):
        s = target(ctx)
        if not isinstance(s, PSlice):
            s = new_pslice(list(s))
        out = new_pmap()
        for i, elem in enumerate(s.values):
            key = str(i)
            value = elem
            if key_path is not None or value_path is not None:
                if elem.WhichOneof("value") != "kvlist_value":
                    raise OttlError("slice elements must be maps when using `key_path` or `value_path`, but could "
                                    f"not cast element of type `{value_type_name(elem)}` to a map")
            if key_path is not None:
                try:
                    k = _extract(PMap(elem.kvlist_value.values), list(key_path), list(key_path))
                except OttlError as e:
                    raise OttlError(f"could not extract key from element {i}: {e}") from None
                if k.WhichOneof("value") != "string_value":
                    raise OttlError(f"element {i}: extracted key attribute is not of type string, got "
                                    f"{go_quote(value_type_name(k))}")
                key = k.string_value
            if value_path is not None:
                try:
                    value = _extract(PMap(elem.kvlist_value.values), list(value_path), list(value_path))
                except OttlError as e:
                    raise OttlError(f"could not extract value from element {i}: {e}") from None
            out.put_empty(key).CopyFrom(value)
        return out
    return run


# ---------------------------------------------------------------------------------------------
# Sort


def _float_key(f: float):
    # cmp.Compare: NaN sorts before every other number, -0 equals 0
    return (0, 0.0) if math.isnan(f) else (1, f + 0.0)


def _common_type(values) -> str | None:
    want = values[0].WhichOneof("value")
    want_str = want_double = False
    for v in values:
        kind = v.WhichOneof("value")
        if kind == "int_value":
            want_double = want_double or want == "double_value"
        elif kind == "double_value":
            want_double = want_double or want == "int_value"
        elif kind in ("string_value", "bool_value", None):
            want_str = True
        else:
            return None
    if want_str:
        return "string_value"
    if want_double:
        return "double_value"
    return want


def _sort_slice(s: PSlice, desc: bool):
    if len(s) == 0:
        return s
    kind = _common_type(s.values)
    if kind is None:
        return s
    if kind == "int_value":
        key = lambda v: v.int_value  # noqa: E731
    elif kind == "double_value":
        key = lambda v: _float_key(float(v.int_value) if v.WhichOneof("value") == "int_value"  # noqa: E731
                                   else v.double_value)
    else:
        key = lambda v: value_as_string(v).encode("utf-8", "surrogateescape")  # noqa: E731
    pairs = [(key(v), to_raw(v)) for v in s.values]
    pairs.sort(key=lambda p: p[0], reverse=desc)
    if desc:
        # reverse=True keeps ties in input order, as the ascending sort does
        pass
    return [p[1] for p in pairs]


@T.function("Sort", P("target", K.GETTER), P("order", K.STRING, optional=True))
def build_sort(target, order=None):
    if order is None:
        order = "asc"
    elif order not in ("asc", "desc"):
        raise OttlConfigError(f'invalid arguments: {order}. Order should be either "asc" or "desc"')
    desc = order == "desc"

    def run(ctx):
        v = target(ctx)
        if isinstance(v, PSlice):
            return _sort_slice(v, desc)
        if isinstance(v, AnyValue):
            if v.WhichOneof("value") == "array_value":
                return _sort_slice(PSlice(v.array_value.values), desc)
            raise OttlError(f"sort with unsupported type: '{value_type_name(v)}'. Target is not a list")
        if isinstance(v, list):
            try:
                s = new_pslice(v)
            except TypeError:
                bad = next((x for x in v if not _raw_ok(x)), None)
                raise OttlError("sort with unsupported type: '[]interface {}'. Target is not a list of primitive "
                                f"types; <Invalid value type {type_name(bad)}>") from None
            return _sort_slice(s, desc)
        raise OttlError(f"sort with unsupported type: '{type_name(v)}'. Target is not a list")
    return run


def _raw_ok(x: Any) -> bool:
    try:
        set_value(AnyValue(), x)
        return True
    except TypeError:
        return False


TABLE = T.table()
