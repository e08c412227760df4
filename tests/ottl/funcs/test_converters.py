import hashlib

import pytest

from otelflow.ottl.errors import OttlConfigError, OttlError
from otelflow.ottl.values import Duration, GoTime
from tests.ottl.funcs.helpers import STANDARD, call, dyn, lit


def test_concat_and_strings():
    assert call("Concat", [lit("hello"), lit(None), lit("world")], lit("")) == "hello<nil>world"
    assert call("Concat", [], lit("-")) == ""
    assert call("ConvertCase", lit("simpleTest"), "snake") == "simple_test"
    assert call("ToSnakeCase", lit("SimpleTestCase")) == "simple_test_case"
    assert call("ToCamelCase", lit("simple_test")) == "SimpleTest"
    assert call("ToUpperCase", lit("straße")) == "STRAßE"  # per-rune mapping, as Go
    with pytest.raises(OttlConfigError, match="invalid case: title"):
        STANDARD["ConvertCase"].build(lit("x"), "title")
    assert call("Split", lit("A|B|C"), lit("|")) == ["A", "B", "C"]
    assert call("Split", lit(""), lit("|")) == [""]
    assert call("Substring", lit("héllo"), lit(0), lit(2), None) == "h\ufffd"  # bytes, like Go
    assert call("Substring", lit("héllo"), lit(0), lit(2), True) == "h"
    with pytest.raises(OttlError, match=r"start\(3\)\+length\(5\) cannot be greater than the length of target string\(5\)"):
        call("Substring", lit("hello"), lit(3), lit(5), None)
    assert call("Trim", lit("  x  "), None) == "x"
    assert call("TrimPrefix", lit("prefix-x"), lit("prefix-")) == "x"
    assert call("HasSuffix", lit("file.log"), lit(".log")) is True
    assert call("Index", lit("héllo"), lit("l")) == 3  # byte offset
    assert call("Index", lit(["a", 1, 2.0]), lit(2)) == 2


def test_format():
    assert call("Format", "test-%04d-%4s", [lit(2), lit("te")]) == "test-0002-  te"
    assert call("Format", "%s %v %d", [lit("a"), lit(1.5)]) == "a 1.5 %!d(MISSING)"
    assert call("Format", "%d", [lit("x")]) == "%!d(string=x)"
    assert call("Format", "%v", [lit(1e21)]) == "1e+21"
    assert call("Format", "x", [lit(1)]) == "x%!(EXTRA int64=1)"


def test_type_checks_and_len():
    assert call("Len", lit("héllo")) == 6
    assert call("Len", lit([1, 2])) == 2
    with pytest.raises(OttlError, match="Len: unsupported target type int64"):
        call("Len", lit(5))
    assert call("IsList", lit([1])) is True
    assert call("IsEmpty", lit("")) is True and call("IsEmpty", lit(0)) is True and call("IsEmpty", lit("x")) is False
    assert call("Keys", lit({"a": 1, "b": 2})).as_raw() == ["a", "b"]
    assert call("Values", lit({"a": 1, "b": 2})).as_raw() == [1, 2]
    assert call("Coalesce", [lit(None), lit(2)]) == 2
    assert call("ContainsValue", lit([1, "a"]), lit("a")) is True


def test_ids_and_encodings():
    assert call("TraceID", dyn(bytes(range(16)))).raw == bytes(range(16))
    assert call("SpanID", dyn(b"0102030405060708")).raw == bytes([1, 2, 3, 4, 5, 6, 7, 8])
    with pytest.raises(OttlError, match="SpanID: could not decode ID: invalid length: expected 8 or 16 bytes, got 3"):
        call("SpanID", dyn(b"abc"))
    with pytest.raises(OttlError, match="invalid hex: encoding/hex: invalid byte: U\\+0067 'g'"):
        call("SpanID", dyn(b"g102030405060708"))
    with pytest.raises(OttlConfigError):
        STANDARD["TraceID"].build(lit(b"abc"))
    assert call("Hex", lit(b"\x01\xff")) == "01ff"
    assert call("Base64Encode", lit("test string"), None) == "dGVzdCBzdHJpbmc="
    assert call("Base64Encode", lit("test string"), lit("base64-raw-url")) == "dGVzdCBzdHJpbmc"
    assert call("Decode", lit("dGVzdCBzdHJpbmc="), lit("base64")) == "test string"
    with pytest.raises(OttlError, match="illegal base64 data"):
        call("Decode", lit("dGVzd$"), lit("base64"))


def test_hashes():
    assert call("SHA256", lit("hello world")) == hashlib.sha256(b"hello world").hexdigest()
    assert call("MD5", lit("")) == "d41d8cd98f00b204e9800998ecf8427e"
    assert call("FNV", lit("hello world")) == 8618312879776256743
    assert call("FNV", lit("")) == -3750763034362895579  # offset basis, wrapped to int64
    assert call("Murmur3Hash", lit("Hello World")) == "ce837619"
    assert call("Murmur3Hash128", lit("Hello World")) == "dbc2a0c1ab26631a27b4c09fcf1fe683"
    assert call("XXH3", lit("")) == "2d06800538d394c2"
    assert call("CommunityID", lit("1.2.3.4"), lit(12345), lit("5.6.7.8"), lit(80), lit("TCP"), None) \
        == "1:0by3b/tE95hcOzccyt6d4kjgbZc="
    assert call("CommunityID", lit("5.6.7.8"), lit(80), lit("1.2.3.4"), lit(12345), lit("TCP"), None) \
        == "1:0by3b/tE95hcOzccyt6d4kjgbZc="
    assert call("CommunityID", lit("192.168.1.1"), lit(53), lit("10.10.10.10"), lit(53000), lit("UDP"), None) \
        == "1:gQ05/45srnixHs8V/2ejpkxhBwg="


def test_misc():
    assert call("IsInCIDR", lit("192.168.1.10"), [lit("192.168.0.0/16")]) is True
    assert call("IsInCIDR", lit("not-an-ip"), [lit("192.168.0.0/16")]) is False
    with pytest.raises(OttlConfigError, match="invalid CIDR address: 192.0.2/24"):
        STANDARD["IsInCIDR"].build(lit("1.1.1.1"), [lit("192.0.2/24")])
    assert call("IsValidLuhn", lit("4539 3195 0343 6467")) is True
    with pytest.raises(OttlError, match='strconv.Atoi: parsing "a": invalid syntax'):
        call("IsValidLuhn", lit("12a4"))
    assert call("Log", lit(1.0)) == 0.0
    with pytest.raises(OttlError, match="invalid input: expected number greater than zero but got -1"):
        call("Log", lit(-1.0))


def test_is_match():
    assert call("IsMatch", lit("operationA"), lit("operation[AC]")) is True
    assert call("IsMatch", lit(None), lit("x")) is False
    assert call("IsMatch", lit("a\nb"), lit("a$")) is False  # Go's $ is end of text
    with pytest.raises(OttlConfigError, match=r"""the regex pattern supplied to IsMatch '"\\\\1"' is not a valid pattern"""):
        STANDARD["IsMatch"].build(lit("x"), lit("\\1"))
    with pytest.raises(OttlError, match="missing closing"):
        call("IsMatch", lit("x"), dyn("(x"))
