import pytest

from otelflow.ottl.errors import OttlConfigError, OttlError
from tests.ottl.funcs.helpers import STANDARD, Slot, call, dyn, lit


def test_set_and_nil():
    s = Slot("a")
    call("set", s, lit(5))
    assert s.raw == 5
    call("set", s, lit(None))  # ottl.set.allowNil is on by default
    assert s.raw is None


def test_delete_and_keep_keys():
    s = Slot({"a": 1, "b": 2, "c": 3})
    call("delete_key", s, lit("b"))
    assert s.raw == {"a": 1, "c": 3}
    call("keep_keys", s, [lit("c"), lit("zz")])
    assert s.raw == {"c": 3}
    s = Slot({"a": 1})
    call("keep_keys", s, [dyn("nope")])
    assert s.raw == {}


def test_matching_keys():
    s = Slot({"foo": 1, "foobar": 2, "bar": 3})
    call("delete_matching_keys", s, lit("^foo"))
    assert s.raw == {"bar": 3}
    s = Slot({"foo": 1, "foobar": 2, "bar": 3})
    call("keep_matching_keys", s, lit("bar$"))
    assert s.raw == {"foobar": 2, "bar": 3}
    with pytest.raises(OttlConfigError, match=r"""supplied to delete_matching_keys '"\(a"' is not a valid pattern: error parsing regexp: missing closing \): `\(a`"""):
        STANDARD["delete_matching_keys"].build(s, lit("(a"))


def test_limit():
    s = Slot({"a": 1, "b": 2, "c": 3, "d": 4})
    call("limit", s, 2, ["c"])
    assert s.raw == {"a": 1, "c": 3}
    with pytest.raises(OttlConfigError, match="-1 cannot be negative"):
        STANDARD["limit"].build(s, -1, [])
    with pytest.raises(OttlConfigError, match="1 cannot be less than number of priority attributes 2"):
        STANDARD["limit"].build(s, 1, ["a", "b"])


def test_merge_maps():
    for strategy, want in [("insert", {"a": 1, "b": 2, "c": 30}), ("update", {"a": 10, "b": 2}),
                           ("upsert", {"a": 10, "b": 2, "c": 30})]:
        s = Slot({"a": 1, "b": 2})
        call("merge_maps", s, lit({"a": 10, "c": 30}), strategy)
        assert s.raw == want
    with pytest.raises(OttlConfigError, match="invalid value for strategy, x, must be 'insert', 'update' or 'upsert'"):
        STANDARD["merge_maps"].build(Slot({}), lit({}), "x")


def test_truncate_all():
    s = Slot({"a": "hello world", "b": 42, "c": "héllo"})
    call("truncate_all", s, 2, None, None)
    assert s.raw == {"a": "he", "b": 42, "c": "h"}  # é is 2 bytes: backs up to a rune start
    s = Slot({"a": "hello world"})
    call("truncate_all", s, 8, None, "...")
    assert s.raw == {"a": "hello..."}
    with pytest.raises(OttlConfigError, match="length of marker 3 cannot be greater than limit 2"):
        STANDARD["truncate_all"].build(s, 2, None, "...")


def test_replace_pattern():
    s = Slot("hello world")
    call("replace_pattern", s, lit("(w)orld"), lit("$1-$$-${1}x-$1x"), None, None)
    assert s.raw == "hello w-$-wx-"
    s = Slot(5)
    call("replace_pattern", s, lit("5"), lit("x"), None, None)
    assert s.raw == 5  # only strings are touched
    s = Slot("a*b")
    call("replace_pattern", s, lit("a*"), lit("X"), None, None)
    assert s.raw == "X*XbX"  # Go drops the empty match right after a match


def test_replace_pattern_with_function():
    s = Slot("user=alice pass=secret")
    call("replace_pattern", s, lit(r"pass=(\w+)"), lit("$1"), STANDARD["SHA256"], lit("pass=%s"))
    import hashlib
    assert s.raw == "user=alice pass=" + hashlib.sha256(b"secret").hexdigest()
    s = Slot("pass=x")
    with pytest.raises(OttlError, match="replacementFormat must be format string"):
        call("replace_pattern", s, lit("x"), lit("$0"), STANDARD["SHA1"], lit("%d"))


def test_replace_all_patterns():
    s = Slot({"k1": "abc", "k2": 5, "abc": "x"})
    call("replace_all_patterns", s, "value", lit("b"), lit("B"), None, None)
    assert s.raw == {"k1": "aBc", "k2": 5, "abc": "x"}
    call("replace_all_patterns", s, "key", lit("^k"), lit("K"), None, None)
    assert s.raw == {"K1": "aBc", "K2": 5, "abc": "x"}
    with pytest.raises(OttlConfigError, match="invalid mode foo, must be either 'key' or 'value'"):
        STANDARD["replace_all_patterns"].build(s, "foo", lit("a"), lit("b"), None, None)


def test_replace_match_glob():
    s = Slot("/api/v1/users")
    call("replace_match", s, lit("/api/*"), lit("/api/{id}"), None, None)
    assert s.raw == "/api/{id}"
    s = Slot({"a": "hello", "b": "world", "c": "hxllo"})
    call("replace_all_matches", s, lit("h[a-f]llo"), lit("X"), None, None)
    assert s.raw == {"a": "X", "b": "world", "c": "hxllo"}
    s = Slot({"a": "cat", "b": "dog", "c": "cow"})
    call("replace_all_matches", s, lit("{cat,do?}"), lit("pet"), None, None)
    assert s.raw == {"a": "pet", "b": "pet", "c": "cow"}
    with pytest.raises(OttlConfigError, match="unexpected end of input"):
        STANDARD["replace_match"].build(s, lit("[a"), lit("x"), None, None)
    with pytest.raises(OttlConfigError, match="expected close range character"):
        STANDARD["replace_match"].build(s, lit("[a-z0-9]"), lit("x"), None, None)


def test_flatten():
    s = Slot({"name": "test", "address": {"street": "first", "house": 1234}, "occupants": ["user 1", {"name": "user 2"}]})
    call("flatten", s, None, None, None)
    assert s.raw == {"name": "test", "address.street": "first", "address.house": 1234, "occupants.0": "user 1",
                     "occupants.1.name": "user 2"}
    s = Slot({"a": {"b": {"c": 1}}})
    call("flatten", s, "app", 1, None)
    assert s.raw == {"app.a.b": {"c": 1}}
    s = Slot({"a": {"b": 1}, "a.b": 2})
    call("flatten", s, None, None, True)
    assert s.raw == {"a.b": 1, "a.b.0": 2}
    with pytest.raises(OttlConfigError, match="invalid depth '0' for flatten function, must be greater than 0"):
        STANDARD["flatten"].build(s, None, 0, None)


def test_append():
    s = Slot("a")
    call("append", s, lit("b"), None)
    assert s.raw == ["a", "b"]
    call("append", s, None, [lit(1), lit(2.5), lit(True)])
    assert s.raw == ["a", "b", 1, 2.5, True]
    s = Slot()
    call("append", s, lit("x"), None)
    assert s.raw == ["x"]
    with pytest.raises(OttlConfigError, match="at least one of the optional arguments"):
        STANDARD["append"].build(s, None, None)


def test_delete_index():
    s = Slot([1, 2, 3, 4])
    call("delete_index", s, lit(1), lit(3))
    assert s.raw == [1, 4]
    with pytest.raises(OttlError, match="startIndex 5 out of bounds for slice of length 2"):
        call("delete_index", s, lit(5), None)
    call("delete_index", s, lit(0), lit(2))
    assert s.raw == []


def test_stringify_and_clear():
    s = Slot({"a": 1, "b": 1.5, "c": True, "d": {"x": 1}, "e": "s"})
    call("stringify_all", s)
    assert s.raw == {"a": "1", "b": "1.5", "c": "true", "d": '{"x":1}', "e": "s"}
    call("clear", s)
    assert s.raw == {}
