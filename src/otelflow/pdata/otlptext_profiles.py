"""The debug exporter's text for profiles requests, as upstream's ``normal`` and ``otlptext``
marshalers write it (debugexporter v0.161.0), next to :mod:`otelflow.pdata.otlptext`.

Profiles keep their strings, attributes, functions, locations and links in the request's
dictionary; samples and profiles hold indices into it. The text prints the dictionary's tables
first (the attribute and link tables as upstream prints them: through a map whose keys every row
overwrites, so only the last row shows), then each resource, scope, profile and sample.
"""

from __future__ import annotations

from opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2 import ExportProfilesServiceRequest

from otelflow.pdata.otlptext import (
    _VALUE_TYPE, _Buffer, _id_hex, _kv_suffix, _resource_details, _scope_details, format_timestamp, value_as_string,
)

__all__ = ["profiles_normal", "profiles_text"]


def _go_ints(values) -> str:
    """A Go slice of integers formatted with ``%d``: ``[1 2 3]``."""
    return "[" + " ".join(str(v) for v in values) + "]"


def _typed(value) -> str:
    return f"{_VALUE_TYPE.get(value.WhichOneof('value'), 'Empty')}({value_as_string(value)})"


def _attribute(dictionary, index: int) -> tuple[str, object] | None:
    """(key, value) of the dictionary's attribute ``index``, upstream's placeholder key for a string
    index out of range, or None when the attribute itself is missing."""
    if not 0 <= index < len(dictionary.attribute_table):
        return None
    row = dictionary.attribute_table[index]
    key_index = row.key_strindex
    strings = dictionary.string_table
    key = strings[key_index] if 0 <= key_index < len(strings) else f"[Missing Dictionary Key String Item #{key_index}]"
    return key, row.value


def profiles_normal(req: ExportProfilesServiceRequest) -> str:
    """About one line per profile: its ID, sample count and attributes."""
    out: list[str] = []
    dictionary = req.dictionary
    for i, rp in enumerate(req.resource_profiles):
        out.append(f"ResourceProfiles #{i}{_resource_details(rp.schema_url)}{_kv_suffix(rp.resource.attributes)}\n")
        for j, sp in enumerate(rp.scope_profiles):
            out.append(f"ScopeProfiles #{j}{_scope_details(sp.scope, sp.schema_url)}{_kv_suffix(sp.scope.attributes)}\n")
            for profile in sp.profiles:
                line = f"{_id_hex(profile.profile_id)} samples={len(profile.samples)}"
                if profile.attribute_indices:
                    attrs = []
                    for index in profile.attribute_indices:
                        found = _attribute(dictionary, index)
                        if found is None:
                            attrs.append(f"[Missing Dictionary AttributeTable Item #{index}]")
                        else:
                            attrs.append(f"{found[0]}={value_as_string(found[1])}")
                    line += " " + " ".join(attrs)
                out.append(line + "\n")
    return "".join(out)


def _dictionary(b: _Buffer, d) -> None:
    for i, m in enumerate(d.mapping_table):
        b.entry(f"Mapping #{i}")
        b.entry(f"    Memory start: {m.memory_start}")
        b.entry(f"    Memory limit: {m.memory_limit}")
        b.entry(f"    File offset: {m.file_offset}")
        b.entry(f"    File name: {m.filename_strindex}")
        b.entry(f"    Attributes: {_go_ints(m.attribute_indices)}")
    for i, loc in enumerate(d.location_table):
        b.entry(f"Location #{i}")
        b.entry(f"    Mapping index: {loc.mapping_index}")
        b.entry(f"    Address: {loc.address}")
        for j, line in enumerate(loc.lines):
            b.entry(f"    Line #{j}")
            b.entry(f"        Function index: {line.function_index}")
            b.entry(f"        Line: {line.line}")
            b.entry(f"        Column: {line.column}")
        b.entry(f"    Attributes: {_go_ints(loc.attribute_indices)}")
    for i, fn in enumerate(d.function_table):
        b.entry(f"Function #{i}")
        b.entry(f"    Name: {fn.name_strindex}")
        b.entry(f"    System name: {fn.system_name_strindex}")
        b.entry(f"    Filename: {fn.filename_strindex}")
        b.entry(f"    Start line: {fn.start_line}")
    if d.attribute_table:
        last = d.attribute_table[-1]
        b.entry("Attribute table:")
        b.entry(f"     -> Key: Int({last.key_strindex})")
        b.entry(f"     -> Value: Str({value_as_string(last.value)})")
        b.entry(f"     -> unit: Int({last.unit_strindex})")
    if d.link_table:
        last = d.link_table[-1]
        b.entry("Link table:")
        b.entry(f"     -> Trace ID: Str({_id_hex(last.trace_id)})")
        b.entry(f"     -> Span ID: Str({_id_hex(last.span_id)})")
    if d.string_table:
        b.entry("String table:")
        for s in d.string_table:
            b.entry(f"    {s}")


def profiles_text(req: ExportProfilesServiceRequest) -> str:
    """The detailed text of a profiles request."""
    b = _Buffer()
    dictionary = req.dictionary
    _dictionary(b, dictionary)
    for i, rp in enumerate(req.resource_profiles):
        b.resource(f"ResourceProfiles #{i}", rp)
        for j, sp in enumerate(rp.scope_profiles):
            b.scope("ScopeProfiles", j, sp)
            for k, profile in enumerate(sp.profiles):
                b.entry(f"Profile #{k}")
                b.attr("Profile ID", _id_hex(profile.profile_id))
                b.attr("Start time", format_timestamp(profile.time_unix_nano))
                b.attr("DurationNano", str(profile.duration_nano))
                b.attr("Dropped attributes count", str(profile.dropped_attributes_count))
                for n, sample in enumerate(profile.samples):
                    b.entry(f"    Sample #{n}")
                    b.entry(f"        Values: {_go_ints(sample.values)}")
                    if sample.attribute_indices:
                        b.entry("        Attributes:")
                        for index in sample.attribute_indices:
                            found = _attribute(dictionary, index)
                            if found is None:
                                b.entry(f"             -> [Missing Dictionary AttributeTable Item #{index}]")
                            else:
                                b.entry(f"             -> {found[0]}: {_typed(found[1])}")
    return b.text()
