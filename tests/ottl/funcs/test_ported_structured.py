"""ParseCSV, ParseSeverity, ToKeyValueString, SliceToMap, Sort, Time/FormatTime and
ExtractGrokPatterns, with expectations from upstream's *_test.go tables (v0.161.0)."""

import pytest

from otelflow.ottl.errors import OttlConfigError, OttlError
from otelflow.ottl.funcs.gotime import FixedZone, format_time
from otelflow.ottl.funcs.strptime import StrptimeParser, load_zone
from otelflow.ottl.values import GoTime, PMap, new_pslice, to_raw
from tests.ottl.funcs.helpers import STANDARD, call, dyn, lit


def csv(target, header, delimiter=None, header_delimiter=None, mode=None):
    return to_raw(call("ParseCSV", lit(target), lit(header), delimiter, header_delimiter, mode))


@pytest.mark.parametrize("target,want", [
    ("val1,val2,val3", ["val1", "val2", "val3"]),
    ("val1\nnewline,val2,val3", ["val1\nnewline", "val2", "val3"]),
    ("val1,val2\nnewline,val3", ["val1", "val2\nnewline", "val3"]),
    ("val1,val2,val3\nnewline", ["val1", "val2", "val3\nnewline"]),
    ("\nval1,val2,val3", ["val1", "val2", "val3"]),
    ("val1,val2,val3\n", ["val1", "val2", "val3"]),
    ("val1\n,val2,val3", ["val1\n", "val2", "val3"]),
])
def test_parse_csv_rows(target, want):
    assert csv(target, "col1,col2,col3") == dict(zip(["col1", "col2", "col3"], want))


def test_parse_csv_modes_and_errors():
    assert csv("val1\tval2\tval3", "col1 col2 col3", "\t", " ") == {"col1": "val1", "col2": "val2", "col3": "val3"}
    with pytest.raises(OttlError, match="^map csv headers: wrong number of fields: expected 3, found 2$"):
        csv('val1,val2,v"al3', "col1,col2,col3")
    assert csv('val1,val2,v"al3', "col1,col2,col3", mode="lazyQuotes")["col3"] == 'v"al3'
    with pytest.raises(OttlError, match="expected 4, found 2"):
        csv('val1,"val2,"val3,val4"', "col1,col2,col3,col4", mode="lazyQuotes")
    assert csv('val1,"val2,"val3,val4"', "col1,col2,col3,col4", mode="ignoreQuotes") == \
        {"col1": "val1", "col2": '"val2', "col3": '"val3', "col4": 'val4"'}
    with pytest.raises(OttlError, match="^no csv lines found$"):
        csv("", "col1,col2,col3")
    with pytest.raises(OttlError, match="^headers must not be an empty string$"):
        csv("a", "")
    with pytest.raises(OttlError, match=r'^read csv line: parse error on line 1, column 4: extraneous or missing " in'):
        csv('"ab"c,d', "a,b")
    with pytest.raises(OttlConfigError, match="^unknown mode: fake$"):
        STANDARD["ParseCSV"].build(lit("a"), lit("a"), None, None, "fake")
    with pytest.raises(OttlConfigError, match="^invalid arguments: delimiter must be a single character$"):
        STANDARD["ParseCSV"].build(lit("a"), lit("a"), "ab", None, None)


_MAPPING = {"error": [{"range": {"min": 400, "max": 599}}, {"equals": ["err", "ERROR"]}],
            "info": [{"range": "2xx"}, {"equals": ["inf"]}]}


def test_parse_severity():
    assert call("ParseSeverity", lit(404), lit(_MAPPING)) == "error"
    assert call("ParseSeverity", lit("inf"), lit(_MAPPING)) == "info"
    assert call("ParseSeverity", lit(204), lit(_MAPPING)) == "info"
    with pytest.raises(OttlError, match="^could not map log level: no matching log level found for value '999'$"):
        call("ParseSeverity", lit(999), lit(_MAPPING))
    with pytest.raises(OttlError, match="unsupported value type: float64"):
        call("ParseSeverity", lit(1.5), lit(_MAPPING))
    with pytest.raises(OttlError, match="^severity mapping must be a literal PMap$"):
        call("ParseSeverity", lit("x"), dyn(_MAPPING))
    with pytest.raises(OttlError, match="invalid severity mapping criteria: unknown range placeholder: 6xx"):
        call("ParseSeverity", lit(1), lit({"error": [{"range": "6xx"}]}))
    with pytest.raises(OttlError, match="^severity mapping criteria must be \\[\\]any$"):
        call("ParseSeverity", lit(1), lit({"error": "invalid"}))
    with pytest.raises(OttlError, match="min must be an int64"):
        call("ParseSeverity", lit(1), lit({"error": [{"range": {"min": 1.0, "max": 2}}]}))


def test_to_key_value_string():
    kv = STANDARD["ToKeyValueString"]
    m = {"key1": "value1", "key2": "val=ue2", "key 3": 'va"l ue', "n": 1}
    assert kv.build(lit(m), None, None, None)(None) == 'key1=value1 key2="val=ue2" "key 3"="va\\"l ue" n=1'
    assert kv.build(lit(m), ":", ";", True)(None) == 'key 3:va\\"l ue;key1:value1;key2:val=ue2;n:1'
    with pytest.raises(OttlConfigError, match='pair delimiter "=" cannot be equal to delimiter "="'):
        kv.build(lit(m), None, "=", None)
    with pytest.raises(OttlConfigError, match="delimiter cannot be set to an empty string"):
        kv.build(lit(m), "", None, None)


def test_slice_to_map():
    s = [{"name": "foo", "value": {"x": 1}}, {"name": "bar", "value": 2}]
    assert to_raw(call("SliceToMap", lit(s), None, None)) == {"0": s[0], "1": s[1]}
    assert to_raw(call("SliceToMap", lit(s), ["name"], None)) == {"foo": s[0], "bar": s[1]}
    assert to_raw(call("SliceToMap", lit(s), ["name"], ["value"])) == {"foo": {"x": 1}, "bar": 2}
    with pytest.raises(OttlError, match=r"^could not extract key from element 0: provided object does not contain "
                                         r"the path \[nope\]$"):
        call("SliceToMap", lit(s), ["nope"], None)
    with pytest.raises(OttlError, match='element 0: extracted key attribute is not of type string, got "Map"'):
        call("SliceToMap", lit(s), ["value"], None)
    with pytest.raises(OttlError, match="could not cast element of type `Str` to a map"):
        call("SliceToMap", lit(["a"]), ["name"], None)


def test_sort():
    assert call("Sort", lit([3, 1.5, 2]), None) == [1.5, 2, 3]
    assert call("Sort", lit([3, 1, 2]), "desc") == [3, 2, 1]
    assert call("Sort", lit(["b", True, 1, None]), None) == [None, 1, "b", True]
    mixed = [{"a": 1}, 2]
    assert to_raw(call("Sort", lit(new_pslice(mixed)), None)) == mixed
    with pytest.raises(OttlError, match="sort with unsupported type: 'string'. Target is not a list"):
        call("Sort", lit("x"), None)
    with pytest.raises(OttlConfigError, match='invalid arguments: up. Order should be either "asc" or "desc"'):
        STANDARD["Sort"].build(lit([]), "up")


NY = load_zone("America/New_York")
SH = load_zone("Asia/Shanghai")


def _unix(y, mo, d, h=0, mi=0, s=0, off=0):
    import calendar
    return (calendar.timegm((y, mo, d, h, mi, s)) - off) * 10**9


@pytest.mark.parametrize("value,fmt,loc,want", [
    ("2023-04-12", "%Y-%m-%d", None, _unix(2023, 4, 12)),
    ("11/11/11", "%d/%m/%y", None, _unix(2011, 11, 11)),
    ("02/04/2023", "%m/%d/%Y", None, _unix(2023, 2, 4)),
    ("July 31, 1993", "%B %d, %Y", None, _unix(1993, 7, 31)),
    ("Mar 14 2023 17:02:59", "%b %d %Y %H:%M:%S", None, _unix(2023, 3, 14, 17, 2, 59)),
    ("Monday, May 01, 2023", "%A, %B %d, %Y", None, _unix(2023, 5, 1)),
    ("Sat, May 20, 2023", "%a, %b %d, %Y", None, _unix(2023, 5, 20)),
    ("2023-05-26 12:34:56 HST", "%Y-%m-%d %H:%M:%S %Z", None, _unix(2023, 5, 26, 12, 34, 56, -36000)),
    ("2023-05-26T12:34:56 GMT", "%Y-%m-%dT%H:%M:%S %Z", None, _unix(2023, 5, 26, 12, 34, 56)),
    ("2012-11-01T22:08:41+0000 EST", "%Y-%m-%dT%H:%M:%S%z %Z", None, _unix(2012, 11, 1, 22, 8, 41)),
    ("1986-10-01T00:17:33 MST", "%Y-%m-%dT%H:%M:%S %Z", None, _unix(1986, 10, 1, 0, 17, 33, -25200)),
    ("1986-10-01T00:17:33 MST", "%Y-%m-%dT%H:%M:%S %Z", "Asia/Shanghai", _unix(1986, 10, 1, 0, 17, 33, -25200)),
    ("2023-05-26 12:34:56", "%Y-%m-%d %H:%M:%S", "America/New_York", _unix(2023, 5, 26, 12, 34, 56, -14400)),
    ("2023-05-26 12:34:56", "%Y-%m-%d %H:%M:%S", "Asia/Shanghai", _unix(2023, 5, 26, 12, 34, 56, 28800)),
    # the retry loop: 1-digit fields and leading spaces
    ("4/ 1/2023  3:04", "%m/%d/%Y %H:%M", None, _unix(2023, 4, 1, 3, 4)),
    ("02/03/23 01:02:03", "%D %T", None, _unix(2023, 2, 3, 1, 2, 3)),
    ("2023-05-26T12:34:56.123456789-0730", "%Y-%m-%dT%H:%M:%S.%s%z", None,
     _unix(2023, 5, 26, 12, 34, 56, -27000) + 123456789),
])
def test_time(value, fmt, loc, want):
    assert call("Time", lit(value), fmt, loc, None).ns == want


@pytest.mark.parametrize("value,fmt,err", [
    ("11/11/11", "%Y/%m/%d", 'parsing time "11/11/11" as "%Y/%m/%d": cannot parse "11/11/11" as "%Y"'),
    ("2023-02-30", "%Y-%m-%d", 'parsing time "2023-02-30": day out of range'),
    ("2023-13-01", "%Y-%m-%d", 'parsing time "2023-13-01": month out of range'),
    ("2023-01-01x", "%Y-%m-%d", 'parsing time "2023-01-01x": extra text: "x"'),
    ("2023-05-26 \u00e8 12", "%Y-%m-%d \u00e9 %H",
     'parsing time "2023-05-26 \\xc3\\xa8 12" as "%Y-%m-%d \\xc3\\xa9 %H": cannot parse "\\xa8 12" as " \\xc3\\xa9 "'),
    ("2023-05-26 12:34:56 XYZ", "%Y-%m-%d %H:%M:%S %Z", "failed to load location XYZ: unknown time zone XYZ"),
])
def test_time_errors(value, fmt, err):
    with pytest.raises(OttlError) as e:
        call("Time", lit(value), fmt, None, None)
    assert str(e.value) == err


def test_time_config_errors():
    with pytest.raises(OttlConfigError, match="format cannot be nil"):
        STANDARD["Time"].build(lit("x"), "", None, None)
    with pytest.raises(OttlConfigError, match="unknown time zone Jupiter/Ganymede"):
        STANDARD["Time"].build(lit("x"), "%Y", "Jupiter/Ganymede", None)
    with pytest.raises(OttlError, match="time cannot be nil"):
        call("Time", lit(""), "%Y", None, None)


def test_time_keeps_zone_and_nanoseconds():
    t = call("Time", lit("2023-05-26 12:34:56.000000001 CEST"), "%Y-%m-%d %H:%M:%S.%s %Z", "Europe/Berlin", None)
    assert t.ns == _unix(2023, 5, 26, 12, 34, 56, 7200) + 1
    assert call("FormatTime", lit(t), "%Y-%m-%dT%H:%M:%S.%s %z %Z") == "2023-05-26T12:34:56.000000001 +0200 CEST"


def test_strptime_parser_remembers_layout():
    p = StrptimeParser("%m/%d/%Y", load_zone("UTC"))
    assert p.parse("4/1/2023").ns == _unix(2023, 4, 1)
    assert p.last_layout == "1/2/2006"
    assert p.parse("12/31/2023").ns == _unix(2023, 12, 31)


@pytest.mark.parametrize("fmt,want", [
    ("%Y-%m-%d", "2023-04-12"), ("%d/%m/%y", "12/04/23"), ("%B %d, %Y", "April 12, 2023"),
    ("%A, %b %e %l:%M %p %P", "Wednesday, Apr 12 5:02 PM pm"), ("%Y-%m-%dT%H:%M:%S.%L%z", "2023-04-12T17:02:59.5Z"),
    ("%H:%M:%S.%f %j", "17:02:59.5 +00:00"), ("%c", "Wed Apr 12 17:02:59 2023"), ("%D %r", "04/12/2023 05:02:59 pm"),
])
def test_format_time(fmt, want):
    t = GoTime(_unix(2023, 4, 12, 17, 2, 59) + 500_000_000)
    assert call("FormatTime", lit(t), fmt) == want


def test_format_time_zones_and_years():
    t = GoTime(_unix(2023, 4, 12, 17, 2, 59), FixedZone("", -(5 * 3600 + 30 * 60)))
    assert format_time(t, "2006-01-02 15:04:05 -07:00 MST Z0700") == "2023-04-12 11:32:59 -05:30 -0530 -0530"
    assert format_time(GoTime(-62167219200 * 10**9), "2006-01-02 Mon") == "0000-01-01 Sat"
    assert format_time(GoTime(_unix(2023, 4, 12), NY), "Jan _2 __2 002 MST") == "Apr 11 101 101 EDT"
    with pytest.raises(OttlConfigError, match="invalid fractional seconds directive: '-%L'"):
        STANDARD["FormatTime"].build(lit(GoTime(0)), "%Y-%L")


def grok(target, pattern, named_only=None, defs=None):
    return call("ExtractGrokPatterns", lit(target), lit(pattern), named_only, defs)


def test_extract_grok_patterns():
    url = "http://user:password@example.com:80/path?query=string"
    assert grok("a=b c=d", r"^a=(?P<a>\w+)\s+c=(?P<c>\w+)$") == {"a": "b", "c": "d"}
    assert grok("a=b c=d", r"^a=(?P<a>\w+)$") == {}
    # upstream checks these keys (the nested URI, USERNAME and HOSTNAME captures come too)
    got = grok(url, "%{URI}", False)
    assert {k: got[k] for k in ("URIPROTO", "USER", "URIHOST", "IPORHOST", "POSINT", "URIPATH", "URIQUERY")} == {
        "URIPROTO": "http", "USER": "user", "URIHOST": "example.com:80", "IPORHOST": "example.com",
        "POSINT": "80", "URIPATH": "/path", "URIQUERY": "query=string"}
    assert got["URI"] == url
    assert grok(url, "%{ELB_URI}", True) == {
        "url.scheme": "http", "url.username": "user", "url.domain": "example.com", "url.port": 80,
        "url.path": "/path", "url.query": "query=string"}
    assert grok("2024-06-18 12:34:56 UTC johndoe 12345 67890",
                "%{DATESTAMP:timestamp} %{TZ:event.timezone} %{DATA:user.name} "
                "%{GREEDYDATA:postgresql.log.connection_id} %{POSINT:process.pid:int}", True) == {
        "timestamp": "24-06-18 12:34:56", "event.timezone": "UTC", "user.name": "johndoe",
        "postgresql.log.connection_id": "12345", "process.pid": 67890}
    assert grok("2024-06-18 12:34:56 otel", "%{MYPATTERN}", True,
                ["MYPATTERN=%{MYDATEPATTERN:timestamp} otel", "MYDATEPATTERN=%{DATE}[- ]%{TIME}"]) == \
        {"timestamp": "24-06-18 12:34:56"}


def test_extract_grok_patterns_errors():
    build = STANDARD["ExtractGrokPatterns"].build
    with pytest.raises(OttlConfigError, match="the regex pattern supplied to ExtractGrokPatterns"):
        build(lit("foobar"), lit("("), None, None)
    with pytest.raises(OttlConfigError, match="^at least 1 named capture group must be supplied in the given regex$"):
        build(lit("foobar"), lit("(.*)"), True, None)
    with pytest.raises(OttlConfigError, match="pattern ID \"PAT:TERN\" should not contain ':'"):
        build(lit("x"), lit("%{URI}"), None, ["PAT:TERN=invalid"])
    with pytest.raises(OttlConfigError, match='pattern "ABCDEFGHIJKLMNOPQ..." supplied to ExtractGrokPatterns at '
                                              'index 0 has incorrect format'):
        build(lit("x"), lit("%{URI}"), None, ["ABCDEFGHIJKLMNOPQRSTUVWXYZ"])
    with pytest.raises(OttlConfigError, match='pattern definition "NOPE" unknown: parsing failed'):
        build(lit("x"), lit("%{NOPE}"), None, None)
    with pytest.raises(OttlError, match='strconv.Atoi: parsing "x": invalid syntax'):
        grok("x", "%{WORD:w:int}")
