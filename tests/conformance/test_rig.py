"""Self-test of the conformance rig: it must tolerate only what may legitimately differ (order of
lines, resources, scopes; how items are batched; ignored stamped fields; number spelling) and fail,
with a readable diff naming the field, on anything else. Works on the recorded upstream outputs,
so no collector runs here."""

from __future__ import annotations

import json

import pytest

from tests.conformance import rig


def _case(name: str) -> rig.Case:
    return rig.find_cases([name])[0]


def _upstream(name: str) -> tuple[rig.Case, list[dict], dict[str, bytes]]:
    case = _case(name)
    raw = case.read_upstream_raw()
    if raw is None or not case.has_golden():
        pytest.skip(f"{name} has no recorded golden")
    return case, case.read_golden(), raw


def test_golden_is_the_normalised_upstream_output():
    case, golden, raw = _upstream("traces_json")
    assert rig.normalise(raw, case.ignore) == golden


def test_order_and_batching_do_not_matter():
    case, golden, raw = _upstream("traces_json")
    doc = json.loads(raw["OUT_FILE"])
    # one line per (resource, scope), resources and scopes in reverse order
    lines = []
    for rs in reversed(doc["resourceSpans"]):
        if not rs.get("scopeSpans"):
            lines.append(json.dumps({"resourceSpans": [rs]}))
        for ss in reversed(rs.get("scopeSpans", [])):
            if "spans" in ss:
                ss = dict(ss, spans=list(reversed(ss["spans"])))
            one = dict(rs, scopeSpans=[ss])
            lines.append(json.dumps({"resourceSpans": [one]}))
    shuffled = {"OUT_FILE": "\n".join(lines).encode() + b"\n"}
    result = rig.compare_outputs(golden, shuffled, case, expected_raw=raw)
    assert result.equal, result.report()
    assert result.bytes_identical is False  # other lines than upstream's: reported, not failed


def test_altered_output_fails_with_a_diff_naming_the_field():
    case, golden, raw = _upstream("traces_json")
    altered = {"OUT_FILE": raw["OUT_FILE"].replace(b'"name":"POST /checkout"', b'"name":"POST /cart"', 1)}
    assert altered != raw
    result = rig.compare_outputs(golden, altered, case, expected_raw=raw)
    assert not result.equal
    report = result.report()
    assert "item.name" in report
    assert '"POST /checkout"' in report and '"POST /cart"' in report
    assert '-    "name": "POST /checkout",' in result.diff
    assert '+    "name": "POST /cart",' in result.diff


def test_altered_nested_value_is_named_by_attribute_key():
    case, golden, raw = _upstream("traces_json")
    altered = {"OUT_FILE": raw["OUT_FILE"].replace(b'"doubleValue":0.75', b'"doubleValue":0.5', 1)}
    result = rig.compare_outputs(golden, altered, case)
    assert not result.equal
    paths = [path for _, path, _, _ in result.differences]
    assert "resource.attributes[key=host.load].value.doubleValue" in paths, paths


def test_missing_field_and_missing_item_fail():
    case, golden, raw = _upstream("logs_json")
    doc = json.loads(raw["OUT_FILE"])
    records = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    del records[0]["severityText"]
    records.pop()  # drop the last record of the first scope
    result = rig.compare_outputs(golden, {"OUT_FILE": json.dumps(doc).encode() + b"\n"}, case)
    assert not result.equal
    assert any(path == "item.severityText" and act == "<absent>" for _, path, _, act in result.differences)
    assert len(result.missing) == 1
    assert "only in upstream" in result.report()


def test_extra_output_line_fails():
    case, golden, raw = _upstream("metrics_json")
    doubled = {"OUT_FILE": raw["OUT_FILE"] * 2}
    result = rig.compare_outputs(golden, doubled, case)
    assert not result.equal and len(result.extra) == len(golden)


def test_same_data_other_bytes_is_equal_with_a_byte_note():
    case, golden, raw = _upstream("metrics_json")
    respelled = {"OUT_FILE": json.dumps(json.loads(raw["OUT_FILE"]), sort_keys=True).encode() + b"\n"}
    result = rig.compare_outputs(golden, respelled, case, expected_raw=raw)
    assert result.equal
    assert result.bytes_identical is False
    assert "same data, different bytes" in result.byte_note
    assert "first difference at byte" in result.byte_note
    assert "order" in result.byte_note


def test_identical_bytes_are_reported_as_such():
    case, golden, raw = _upstream("metrics_json")
    result = rig.compare_outputs(golden, dict(raw), case, expected_raw=raw)
    assert result.equal and result.bytes_identical is True


def test_number_spelling_is_not_structural_but_is_a_byte_difference():
    e = '{"a":[3,0.5,1e+21],"b":"x"}'
    a = '{"a":[3.0,0.5,1e21],"b":"x"}'
    assert rig.loads(e) == rig.loads(a)
    # grouped by path pattern: one example (the first) and how many values differ in spelling
    assert rig.explain_byte_differences(e, a) == [("spelling", ".a[]", "3", "3.0", 2)]
    assert rig.explain_byte_differences('{"a":1,"b":2}', '{"b":2,"a":1}') == [("order", "(top)", "a,b", "b,a", 1)]


def test_ignored_paths_are_blanked():
    doc = {"resourceLogs": [{"resource": {}, "scopeLogs": [{"scope": {}, "logRecords": [
        {"observedTimeUnixNano": "1", "body": {"stringValue": "x"}}]}]}]}
    other = json.loads(json.dumps(doc))
    other["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["observedTimeUnixNano"] = "2"
    ignore = ["item.observedTimeUnixNano"]
    assert rig.flatten(doc, ignore=ignore) == rig.flatten(other, ignore=ignore)
    assert rig.flatten(doc) != rig.flatten(other)


def test_protobuf_inputs_hold_the_json_inputs_data():
    pairs = [("traces_protobuf", "traces_json"), ("traces_grpc_otlp", "traces_json"),
             ("metrics_otlphttp", "metrics_json"), ("logs_otlphttp_json", "logs_json")]
    for pb_case, json_case in pairs:
        pb, js = _case(pb_case), _case(json_case)
        made = rig.json_doc_to_pb(js.signal, json.loads(js.inputs[0].read_text()))
        assert pb.inputs[0].read_bytes() == made, f"{pb_case}/input.pb is stale: regenerate with json2pb"
