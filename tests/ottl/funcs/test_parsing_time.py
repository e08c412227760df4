import pytest

from otelflow.ottl.errors import OttlConfigError, OttlError
from otelflow.ottl.funcs._regex import GoRegexError, compile_go_regex, replace_all
from otelflow.ottl.values import Duration, GoTime
from tests.ottl.funcs.helpers import STANDARD, call, lit


def test_parse_json():
    assert call("ParseJSON", lit('{"a": 1, "b": [true, null, "x"], "c": {"d": 1.5}}')) == \
        {"a": 1.0, "b": [True, None, "x"], "c": {"d": 1.5}}
    v = call("ParseJSON", lit("[1, 2]"))
    assert v == [1.0, 2.0] and isinstance(v[0], float)
    with pytest.raises(OttlError, match="could not convert parsed value of type string to JSON object"):
        call("ParseJSON", lit('"x"'))
    with pytest.raises(OttlError):
        call("ParseJSON", lit("{"))


def test_parse_key_value():
    assert call("ParseKeyValue", lit("a=b c=d"), None, None) == {"a": "b", "c": "d"}
    assert call("ParseKeyValue", lit("a:b!c:'d e'"), ":", "!") == {"a": "b", "c": "d e"}
    with pytest.raises(OttlError, match='cannot split "x" into 2 items, got 1 item'):
        call("ParseKeyValue", lit("a=b x"), None, None)
    with pytest.raises(OttlConfigError, match='pair delimiter "=" cannot be equal to delimiter "="'):
        STANDARD["ParseKeyValue"].build(lit("x"), None, "=")


def test_extract_patterns():
    assert call("ExtractPatterns", lit("a=b c=d"), lit(r"^a=(?P<a>\w+)\s+c=(?<c>\w+)$")) == {"a": "b", "c": "d"}
    assert call("ExtractPatterns", lit("zzz"), lit(r"(?P<a>\d+)")) == {}
    with pytest.raises(OttlError, match="at least 1 named capture group"):
        call("ExtractPatterns", lit("x"), lit("(x)"))


def test_parse_int():
    assert call("ParseInt", lit("0x1F"), lit(0)) == 31
    assert call("ParseInt", lit("-101"), lit(2)) == -5
    with pytest.raises(OttlError, match='strconv.ParseInt: parsing "9223372036854775808": value out of range'):
        call("ParseInt", lit("9223372036854775808"), lit(10))
    with pytest.raises(OttlError, match="invalid syntax"):
        call("ParseInt", lit("12z"), lit(10))


def test_url_and_user_agent():
    u = call("URL", lit("http://www.example.com:8080/a/b.php?x=1#f"))
    assert u == {"url.original": "http://www.example.com:8080/a/b.php?x=1#f", "url.scheme": "http",
                 "url.domain": "www.example.com", "url.path": "/a/b.php", "url.port": 8080, "url.fragment": "f",
                 "url.query": "x=1", "url.extension": "php"}
    ua = call("UserAgent", lit("Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"))
    assert ua["user_agent.name"] == "Firefox" and ua["user_agent.version"] == "126.0" and ua["os.name"] == "Linux"


def test_duration_and_time():
    assert call("Duration", lit("1h2m3.5s")) == Duration(3723500000000)
    assert call("Duration", lit("1µs")) == Duration(1000)
    with pytest.raises(OttlError, match='time: unknown unit "x" in duration "1x"'):
        call("Duration", lit("1x"))
    with pytest.raises(OttlError, match='time: invalid duration ""'):
        call("Duration", lit(""))
    assert call("Hours", lit(Duration(5400 * 10**9))) == 1.5
    t = call("Time", lit("2023-05-26 12:34:56"), "%Y-%m-%d %H:%M:%S", None, None)
    assert t.ns == 1685104496 * 10**9
    t = call("Time", lit("Feb 15 2023 1:02:03.5 PM +0100"), "%b %d %Y %I:%M:%S.%L %p %z", None, None)
    assert t.ns == 1676462523 * 10**9 + 500_000_000
    assert call("Time", lit("2023-01-01"), "%Y-%m-%d", "America/New_York", None).ns == 1672549200 * 10**9
    with pytest.raises(OttlConfigError, match="unsupported ctimefmt.toNative\\(\\) directive: %Q"):
        STANDARD["Time"].build(lit("x"), "%Q", None, None)
    with pytest.raises(OttlConfigError, match="format cannot be nil"):
        STANDARD["Time"].build(lit("x"), "", None, None)
    g = GoTime(1685104496 * 10**9 + 123_000_000)
    assert call("UnixSeconds", lit(g)) == 1685104496
    assert call("UnixMilli", lit(g)) == 1685104496123
    assert call("UnixNano", lit(GoTime(-1))) == -1
    assert call("UnixSeconds", lit(GoTime(-1))) == -1  # floor, as Go
    assert call("Weekday", lit(g)) == 5
    assert call("FormatTime", lit(g), "%Y-%m-%dT%H:%M:%S.%L%z") == "2023-05-26T12:34:56.123Z"
    assert call("Unix", lit(1), lit(5)).ns == 10**9 + 5
    assert call("TruncateTime", lit(g), lit(Duration(3600 * 10**9))).ns == 1685102400 * 10**9


@pytest.mark.parametrize("pattern,text,template,want", [
    ("a*", "baaac", "X", "XbXcX"),
    ("(?i)ab", "xABx", "[$0]", "x[AB]x"),
    ("x(?i)ab|cd", "xAB CD xab", "[$0]", "[xAB] [CD] [xab]"),
    ("^a$", "a\n", "Z", "a\n"),
    ("(?m)^a$", "a\n", "Z", "Z\n"),
    (r"\d+", "a12b٣", "N", "aNb٣"),
    (r"(?P<n>\w+)@(?P<d>\w+)", "joe@ex", "${d}:$n:$1x:$2:$$:$:${:$9", "ex:joe::ex:$:$:${:"),
    (r"\Qa.b\E+", "a.bb a.b", "Q", "Q Q"),
    ("[]a]", "]a", "k", "kk"),
])
def test_go_regex(pattern, text, template, want):
    assert replace_all(compile_go_regex(pattern), text, template) == want


@pytest.mark.parametrize("pattern,err", [
    ("(abc", "missing closing ): `(abc`"),
    ("abc)", "unexpected ): `abc)`"),
    ("*a", "missing argument to repetition operator: `*`"),
    ("a*+", "invalid nested repetition operator: `*+`"),
    (r"\1", r"invalid escape sequence: `\1`"),
    ("(?=a)", "invalid or unsupported Perl syntax: `(?=`"),
    ("a{1001}", "invalid repeat count: `{1001}`"),
    ("[a-", "missing closing ]: `[a-`"),
])
def test_go_regex_errors(pattern, err):
    with pytest.raises(GoRegexError) as e:
        compile_go_regex(pattern)
    assert str(e.value) == "error parsing regexp: " + err
