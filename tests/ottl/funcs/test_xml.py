"""The XML converters, with expectations from upstream's func_*xml_test.go tables (v0.161.0)."""

import pytest

from otelflow.ottl.errors import OttlConfigError, OttlError
from otelflow.ottl.values import to_raw
from tests.ottl.funcs.helpers import call, lit

INVALID = "<a>>>>>>>"
DEEP = "<a>" * 10_002 + "</a>" * 10_002


def raw(v):
    return to_raw(v) if not isinstance(v, (dict, list)) else v


# ---------------------------------------------------------------------------------------------
# ParseXML


def _el(tag, content=None, attributes=None, children=None):
    m = {"tag": tag}
    if content is not None:
        m["content"] = content
    if attributes is not None:
        m["attributes"] = attributes
    if children is not None:
        m["children"] = children
    return m


USER = _el("Log", children=[
    _el("User", children=[_el("ID", "00001"), _el("Name", "Joe"), _el("Email", "joe.smith@example.com")]),
    _el("Text", "User did a thing"),
])


@pytest.mark.parametrize("doc,want", [
    ("<Log><User><ID>00001</ID><Name>Joe</Name><Email>joe.smith@example.com</Email></User>"
     "<Text>User did a thing</Text></Log>", USER),
    ("\n\t<Log>\n\t  <User>\n\t    <ID>00001</ID>\n\t\t<Name>Joe</Name>\n\t\t<Email>joe.smith@example.com</Email>\n"
     "\t  </User>\n\t  <Text>User did a thing</Text>\n\t</Log>", USER),
    ('<Log>This record has a collision<User id="0001"/><User id="0002"/></Log>',
     _el("Log", "This record has a collision", children=[_el("User", attributes={"id": "0001"}),
                                                         _el("User", attributes={"id": "0002"})])),
    ('<Log>\n\t\tThis record has multiple lines of\n\t\t<User id="0001"/>\n\t\ttext content\n\t\t</Log>',
     _el("Log", "This record has multiple lines oftext content", children=[_el("User", attributes={"id": "0001"})])),
    ('<HostInfo hostname="example.com" zone="east-1" cloudprovider="aws" />',
     _el("HostInfo", attributes={"hostname": "example.com", "zone": "east-1", "cloudprovider": "aws"})),
    ('<?xml version="1.0" encoding="UTF-8" ?><Log>Log content</Log>', _el("Log", "Log content")),
    ("<Log>This has a comment <!-- This is comment text --></Log>", _el("Log", "This has a comment")),
    ('<Log><?xml-stylesheet type="text/xsl" href="style.xsl"?>Log content</Log>', _el("Log", "Log content")),
    ("<Log><!ELEMENT xi:fallback ANY>Log content</Log>", _el("Log", "Log content")),
    ("<a>x &amp; &#65;&#x42;<![CDATA[<c>]]></a>", _el("a", "x & AB<c>")),
])
def test_parse_xml(doc, want):
    got = raw(call("ParseXML", lit(doc)))
    assert got == want
    assert list(got) == list(want)  # tag, content, attributes, children


@pytest.mark.parametrize("doc,err", [
    ('<Log id="1">', "unmarshal xml: decode next token: XML syntax error on line 1: unexpected EOF"),
    ("<Log><Text></Log>", "unmarshal xml: decode next token: XML syntax error on line 1: element <Text> closed by </Log>"),
    ("<Log></Log><Log></Log>", "trailing bytes after parsing xml"),
    ("<a/>\n", "trailing bytes after parsing xml"),
    ("", "unmarshal xml: EOF"),
    ("<a>\n&foo;</a>", "unmarshal xml: decode next token: XML syntax error on line 2: invalid character entity &foo;"),
    ("<a b=c/>", "unmarshal xml: XML syntax error on line 1: unquoted or missing attribute value in element"),
    ("<a>\x01</a>", "unmarshal xml: decode next token: XML syntax error on line 1: illegal character code U+0001"),
    (DEEP, "unmarshal xml: exceeded max depth"),
])
def test_parse_xml_errors(doc, err):
    with pytest.raises(OttlError) as e:
        call("ParseXML", lit(doc))
    assert str(e.value) == err


# ---------------------------------------------------------------------------------------------
# ParseSimplifiedXML

WEL = """<Event>
	<xmlns>http://schemas.microsoft.com/win/2004/08/events/event</xmlns>
    <System>
        <Provider><Name>Microsoft-Windows-Security-Auditing</Name><Guid>{54849625-5478-4994-a5ba-3e3b0328c30d}</Guid></Provider>
        <EventID>4625</EventID>
        <Version>0</Version>
        <Level>0</Level>
        <Task>12544</Task>
        <Opcode>0</Opcode>
        <Keywords>0x8010000000000000</Keywords>
        <TimeCreated><SystemTime>2024-09-04T08:38:09.7477579Z</SystemTime></TimeCreated>
        <EventRecordID>1361885</EventRecordID>
        <Correlation><ActivityID>{b67ee0c2-a671-0001-5f6b-82e8c1eeda01}</ActivityID></Correlation>
        <Execution><ProcessID>656</ProcessID><ThreadID>2276</ThreadID></Execution>
        <Channel>Security</Channel>
        <Computer>samuel-vahala</Computer>
        <Security />
    </System>
    <EventData>
		<Data><Name>SubjectUserSid</Name><value>S-1-0-0</value></Data>
		<Data><Name>TargetUserSid</Name><value>S-1-0-0</value></Data>
        <Data><Name>Status</Name><value>0xc000006d</value></Data>
        <Data><Name>WorkstationName</Name><value>D-508</value></Data>
    </EventData>
</Event>"""

WEL_WANT = {"Event": {
    "xmlns": "http://schemas.microsoft.com/win/2004/08/events/event",
    "System": {
        "Provider": {"Name": "Microsoft-Windows-Security-Auditing", "Guid": "{54849625-5478-4994-a5ba-3e3b0328c30d}"},
        "EventID": "4625", "Version": "0", "Level": "0", "Task": "12544", "Opcode": "0",
        "Keywords": "0x8010000000000000",
        "TimeCreated": {"SystemTime": "2024-09-04T08:38:09.7477579Z"},
        "EventRecordID": "1361885",
        "Correlation": {"ActivityID": "{b67ee0c2-a671-0001-5f6b-82e8c1eeda01}"},
        "Execution": {"ProcessID": "656", "ThreadID": "2276"},
        "Channel": "Security", "Computer": "samuel-vahala",
    },
    "EventData": {"Data": [
        {"Name": "SubjectUserSid", "value": "S-1-0-0"},
        {"Name": "TargetUserSid", "value": "S-1-0-0"},
        {"Name": "Status", "value": "0xc000006d"},
        {"Name": "WorkstationName", "value": "D-508"},
    ]},
}}


@pytest.mark.parametrize("doc,want", [
    ("<a>b</a>", {"a": "b"}),
    ("<a>b</a><a>c</a>", {"a": ["b", "c"]}),
    ("<a><b>1</b></a>", {"a": {"b": "1"}}),
    ("<a>1</a><a><![CDATA[2]]></a><a><b>3</b></a>", {"a": ["1", "2", {"b": "3"}]}),
    ("<a><![CDATA[b]]></a>", {"a": "b"}),
    ('<a foo="bar"><b hello="world">c</b></a>', {"a": {"b": "c"}}),
    ('<?xml version="1.0" encoding="UTF-8"?><a>b</a>', {"a": "b"}),
    ("<a><!-- ignore -->b</a><!-- ignore -->", {"a": "b"}),
    ("<a><b>2</b><c><!-- c is empty --></c></a>", {"a": {"b": "2"}}),
    ("<a><b>2</b><c>4</c><c><!-- this c is empty --></c></a>", {"a": {"b": "2", "c": ["4"]}}),
    ("<a>extra1<b>3</b>extra2</a>", {"a": {"b": "3"}}),
    ("<a><![CDATA[1]]><b>3</b><![CDATA[2]]></a>", {"a": {"b": "3"}}),
    ("<a><b>3</b><c/></a>", {"a": {"b": "3"}}),
    ("<a><b><c/></b><d>2</d></a>", {"a": {"d": "2"}}),
    ("<a><b>3</b><b/></a>", {"a": {"b": ["3"]}}),
    (WEL, WEL_WANT),
])
def test_parse_simplified_xml(doc, want):
    got = raw(call("ParseSimplifiedXML", lit(doc)))
    assert got == want
    assert list(got.get("Event", {})) == list(want.get("Event", {}))


def test_parse_simplified_xml_errors():
    with pytest.raises(OttlError, match="^parse xml: XML syntax error on line 1: unexpected EOF$"):
        call("ParseSimplifiedXML", lit(INVALID))
    with pytest.raises(OttlError, match="exceeded maximum XML nesting depth of 10000"):
        call("ParseSimplifiedXML", lit(DEEP))


# ---------------------------------------------------------------------------------------------
# GetXML, InsertXML, RemoveXML


@pytest.mark.parametrize("doc,xpath,want", [
    ("<a><b/></a>", "/a/b", "<b></b>"),
    ('<a foo="bar"><b>hello</b></a>', "/a", '<a foo="bar"><b>hello</b></a>'),
    ("<a><b>hello</b><b>world</b></a>", "/a/b", "<b>hello</b><b>world</b>"),
    ("<a><b>hello</b><b><c>world</c></b><d/></a>", "/a/*", "<b>hello</b><b><c>world</c></b><d></d>"),
    ("<a><x>1</x><b><x>2</x></b><d><e><f><x>3</x></f></e></d></a>", "/a//x", "<x>1</x><x>2</x><x>3</x>"),
    ('<a><x env="prod">1</x><b><x env="dev">2</x></b><d><e><f><x env="prod">3</x></f></e></d></a>',
     "/a//x[@env='prod']", '<x env="prod">1</x><x env="prod">3</x>'),
    ("", "/", ""),
    ('<?xml version="1.0" encoding="UTF-8"?><a></a>', "/*", "<a></a>"),
    ("<!-- comment --><a></a><!-- comment -->", "/*", "<a></a>"),
    ('<a foo="bar"></a>', "/a/@foo", "bar"),
    ("<a>hello</a>", "/a/text()", "hello"),
    ("<a><![CDATA[hello]]></a>", "/a/text()", "hello"),
    # beyond upstream's table
    ("<a><x>1</x><x>2</x><x>3</x></a>", "/a/x[2]", "<x>2</x>"),
    ("<a><x>1</x><x>2</x><x>3</x></a>", "/a/x[last()]", "<x>3</x>"),
    ("<a><x>1</x><y>2</y></a>", "//y | //x", "<y>2</y><x>1</x>"),
    ('<a t="&lt;&quot;&apos;">x &amp; y</a>', "/a", '<a t="&lt;&#34;&#39;">x &amp; y</a>'),
    ("<a><b>1</b><b>22</b></a>", "//b[string-length(.) > 1]", "<b>22</b>"),
    ('<r xmlns:p="urn:x"><p:a p:k="v">1</p:a></r>', "//p:a", '<p:a p:k="v">1</p:a>'),
])
def test_get_xml(doc, xpath, want):
    assert call("GetXML", lit(doc), xpath) == want


@pytest.mark.parametrize("doc,xpath,sub,want", [
    ("<a></a>", "/a", "<b/>", "<a><b></b></a>"),
    ("<a></a><a></a>", "/a", "<b/>", "<a><b></b></a><a><b></b></a>"),
    ("<a></a><z><a></a></z>", "//a", "<b/>", "<a><b></b></a><z><a><b></b></a></z>"),
    ("<a></a>", "/", "<b/><c/>", "<a></a><b></b><c></c>"),
    ("<a></a>", "/a", "<b/><c/>", "<a><b></b><c></c></a>"),
    ("<a></a><a></a>", "/a", "<b/><c/>", "<a><b></b><c></c></a><a><b></b><c></c></a>"),
    ("<a></a><z><a></a></z>", "//a", "<b/><c/>", "<a><b></b><c></c></a><z><a><b></b><c></c></a></z>"),
    ("<a></a>", "/a", '<x foo="bar"><b>text</b><c><d><e>1</e><e><![CDATA[two]]></e></d></c></x>',
     '<a><x foo="bar"><b>text</b><c><d><e>1</e><e><![CDATA[two]]></e></d></c></x></a>'),
    ("", "/", "<a/>", "<a></a>"),
    ("<a></a>", "/", "<a/>", "<a></a><a></a>"),
    ("<a><b>has b</b></a><a></a><a><b>also has b</b></a>", "//a[not(b)]", "<b></b>",
     "<a><b>has b</b></a><a><b></b></a><a><b>also has b</b></a>"),
])
def test_insert_xml(doc, xpath, sub, want):
    assert call("InsertXML", lit(doc), xpath, lit(sub)) == want


@pytest.mark.parametrize("doc,xpath", [('<a foo="bar"></a>', "/a/@foo"), ("<a>foo</a>", "/a/text()")])
def test_insert_xml_non_element(doc, xpath):
    with pytest.raises(OttlError, match='^InsertXML XPath selected non-element: "foo"$'):
        call("InsertXML", lit(doc), xpath, lit("<b/>"))


@pytest.mark.parametrize("doc,xpath,want", [
    ("<a><b/></a>", "/a/b", "<a></a>"),
    ("<a><b/><b/></a>", "/a/b", "<a></a>"),
    ("<a><b/><b><c/></b></a>", "/a/b", "<a></a>"),
    ("<a><b/><b/><c><b><d/></b></c></a>", "/a//b", "<a><c></c></a>"),
    ('<a foo="bar"/>', "/a/@foo", "<a></a>"),
    ('<a><b foo="bar"/><b foo="notbar"/></a>', "/a/b[@foo='bar']", '<a><b foo="notbar"></b></a>'),
    ('<a><b foo="bar"/><c foo="bar"/></a>', "//@foo", "<a><b></b><c></c></a>"),
    ('<a><b foo="bar" hello="world" keep="this"/></a>', "//@*[local-name() != 'keep']", '<a><b keep="this"></b></a>'),
    ("<a>delete this</a>", "//text()['*delete*']", "<a></a>"),
    ("<a><b><c><!-- delete this --></c><!-- this too--></b></a>", "//comment()", "<a><b><c></c></b></a>"),
    ("<a><b><![CDATA[text content possibly containing literal <or &characters ]]></b></a>",
     "//text()['<![CDATA[*']", "<a><b></b></a>"),
    ('<?xml version="1.0" encoding="UTF-8"?><a>delete this</a>', "//text()['*delete*']",
     '<?xml version="1.0" encoding="UTF-8"?><a></a>'),
    ("", "/", ""),
])
def test_remove_xml(doc, xpath, want):
    assert call("RemoveXML", lit(doc), xpath) == want


@pytest.mark.parametrize("name", ["GetXML", "RemoveXML"])
def test_xpath_functions_errors(name):
    with pytest.raises(OttlConfigError, match="^invalid xpath: expression must evaluate to a node-set$"):
        call(name, lit("<a/>"), "!")
    with pytest.raises(OttlConfigError, match=r"^invalid xpath: not yet support this function foo\(\)$"):
        call(name, lit("<a/>"), "foo()")
    with pytest.raises(OttlError, match="^parse xml: "):
        call(name, lit(INVALID), "/")
    with pytest.raises(OttlError, match="^parse xml: xmlquery: invalid XML document$"):
        call(name, lit("just text"), "/")
    with pytest.raises(OttlError, match="^parse xml: xmlquery: invalid XML document, namespace p is missing$"):
        call(name, lit("<p:a/>"), "/")


def test_insert_xml_errors():
    with pytest.raises(OttlConfigError, match="^invalid xpath: "):
        call("InsertXML", lit("<a/>"), "!", lit("<b/>"))
    with pytest.raises(OttlError, match="^parse xml: "):
        call("InsertXML", lit(INVALID), "/", lit("<b/>"))
    with pytest.raises(OttlError, match="^parse xml: "):
        call("InsertXML", lit("<a/>"), "/", lit(INVALID))


# ---------------------------------------------------------------------------------------------
# ConvertAttributesToElementsXML, ConvertTextToElementsXML


@pytest.mark.parametrize("doc,xpath,want", [
    ("<a><b/></a>", None, "<a><b></b></a>"),
    ('<?xml version="1.0" encoding="UTF-8"?><a><b/></a>', None, '<?xml version="1.0" encoding="UTF-8"?><a><b></b></a>'),
    ('<a foo="bar"/>', None, "<a><foo>bar</foo></a>"),
    ('<a foo="bar" hello="world"/>', None, "<a><foo>bar</foo><hello>world</hello></a>"),
    ('<a hello="world" foo="bar"/>', None, "<a><hello>world</hello><foo>bar</foo></a>"),
    ('<a hello="world" foo="bar"><b/><c/><b/></a>', None, "<a><b></b><c></c><b></b><hello>world</hello><foo>bar</foo></a>"),
    ('<a hello="world" foo="bar">free value</a>', None, "<a>free value<hello>world</hello><foo>bar</foo></a>"),
    ('<a hello="world" foo="bar">free value<b/>2<c/></a>', None,
     "<a>free value<b></b>2<c></c><hello>world</hello><foo>bar</foo></a>"),
    ('<a hello="world" foo="bar"><b href="www.example.com"></b></a>', None,
     "<a><b><href>www.example.com</href></b><hello>world</hello><foo>bar</foo></a>"),
    ('<a hello="world" foo="bar"><b href="www.example.com"></b></a>', "/a/b/@*",
     '<a hello="world" foo="bar"><b><href>www.example.com</href></b></a>'),
    ('<a hello="world" foo="bar"><b href="www.example.com"></b></a>', "/a/b",
     '<a hello="world" foo="bar"><b href="www.example.com"></b></a>'),
])
def test_convert_attributes_to_elements_xml(doc, xpath, want):
    assert call("ConvertAttributesToElementsXML", lit(doc), xpath) == want


@pytest.mark.parametrize("doc,xpath,name,want", [
    ("<a><b/></a>", None, None, "<a><b></b></a>"),
    ('<?xml version="1.0" encoding="UTF-8"?><a><b/></a>', None, None, '<?xml version="1.0" encoding="UTF-8"?><a><b></b></a>'),
    ('<a foo="bar" hello="world"/>', None, None, '<a foo="bar" hello="world"></a>'),
    ("<a>hello world</a>", None, None, "<a>hello world</a>"),
    ("<a><b/>foo</a>", None, None, "<a><b></b><value>foo</value></a>"),
    ("<a><b/>foo</a>", None, "bar", "<a><b></b><bar>foo</bar></a>"),
    ("<a>foo<b/>bar</a>", None, None, "<a><value>foo</value><b></b><value>bar</value></a>"),
    ("<a>foo<b/>bar<c/>1<d>not</d>2<e><f/><f/></e></a>", None, "v",
     "<a><v>foo</v><b></b><v>bar</v><c></c><v>1</v><d>not</d><v>2</v><e><f></f><f></f></e></a>"),
    ("<a><b><c/>foo</b><d><c/>bar</d><b><c/>baz</b></a>", "/a/b", None,
     "<a><b><c></c><value>foo</value></b><d><c></c>bar</d><b><c></c><value>baz</value></b></a>"),
    ("<a><b><c/>foo</b><d><c/>bar</d><b><c/>baz</b></a>", "/a/b", "V",
     "<a><b><c></c><V>foo</V></b><d><c></c>bar</d><b><c></c><V>baz</V></b></a>"),
])
def test_convert_text_to_elements_xml(doc, xpath, name, want):
    assert call("ConvertTextToElementsXML", lit(doc), xpath, name) == want


def test_convert_errors():
    for name in ("ConvertAttributesToElementsXML", "ConvertTextToElementsXML"):
        with pytest.raises(OttlConfigError, match="^invalid xpath: "):
            STANDARD_CALL = call(name, lit("<a/>"), "!") if name == "ConvertAttributesToElementsXML" \
                else call(name, lit("<a/>"), "!", None)
            del STANDARD_CALL
        with pytest.raises(OttlError, match="^parse xml: "):
            call(name, lit(INVALID), None) if name == "ConvertAttributesToElementsXML" \
                else call(name, lit(INVALID), None, None)
    with pytest.raises(OttlError, match="^exceeded maximum XML nesting depth of 10000$"):
        call("ConvertTextToElementsXML", lit(DEEP), None, None)


def test_no_entity_expansion():
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
            "<lolz>&lol2;</lolz>")
    with pytest.raises(OttlError, match="invalid character entity &lol2;"):
        call("ParseXML", lit(bomb))
    ext = '<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'
    with pytest.raises(OttlError, match="invalid character entity &x;"):
        call("GetXML", lit(ext), "/a")
    # the DTD is kept as an opaque directive
    assert call("RemoveXML", lit('<?xml version="1.0"?><!DOCTYPE a><a>x</a>'), "//text()") == \
        '<?xml version="1.0"?><!DOCTYPE a><a></a>'


def test_overlapping_selection_terminates():
    # upstream re-parents <b> and then <a>, whose child list loops back through <b>; its writer
    # recurses until the Go runtime aborts. Here the loop is cut and each node written once.
    assert call("GetXML", lit("<a><b/></a>"), "//b | //a") == "<b></b><a><b></b></a>"
    assert call("GetXML", lit("<a><b>1</b><b>2</b></a>"), "/a/b/..") == "<a><b>1</b><b>2</b></a>"
