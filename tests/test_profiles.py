"""The profiles signal as a pass-through (docs/signals/profiles.md): a profiles request from a real
gRPC or HTTP client leaves through the otlp and otlphttp exporters byte for byte, behind upstream's
``service.profilesSupport`` gate, with upstream's errors for components that do not take profiles."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import aiohttp
import grpc
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2 import ExportProfilesServiceRequest

from otelflow.config import collector, loader
from otelflow.config.errors import ConfigError
from otelflow.core import persistent_queue
from otelflow.core.component import Signal
from otelflow.core.registry import default_registry
from otelflow.pdata import otlpjson
from otelflow.pdata.otlptext_profiles import profiles_normal, profiles_text
from tests.backends import free_port
from tests.conftest import running
from tests.process import Collector
from tests.profiles_rig import EXPORT, HTTP_PATH, RawProfilesBackend, profiles_gate, profiles_request

PB, JS = "application/x-protobuf", "application/json"


def pass_through_config(grpc_port: int, http_port: int, backend: RawProfilesBackend, processors: str = "") -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}
      http: {{endpoint: "127.0.0.1:{http_port}"}}
processors:
  memory_limiter: {{check_interval: 1s, limit_mib: 4000}}
exporters:
  otlp:
    endpoint: "127.0.0.1:{backend.grpc_port}"
    tls: {{insecure: true}}
  otlphttp:
    endpoint: "http://127.0.0.1:{backend.http_port}"
service:
  pipelines:
    profiles:
      receivers: [otlp]
      processors: [{processors}]
      exporters: [otlp, otlphttp]
"""


def parse(yaml_text: str) -> collector.CollectorConfig:
    return collector.parse(loader.load([f"yaml:{yaml_text}"]), default_registry)


async def grpc_export(port: int, body: bytes) -> bytes:
    """One Export call with a real grpc.aio channel; the raw response bytes."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        return await call(body, timeout=10)


async def http_post(port: int, body: bytes, content_type: str) -> tuple[int, bytes, str]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}{HTTP_PATH}", data=body,
                                headers={"Content-Type": content_type}) as r:
            return r.status, await r.read(), r.content_type


# -- the gate and the components a profiles pipeline may hold --------------------------------------

MINIMAL = """
receivers: {otlp: {protocols: {grpc: {endpoint: "127.0.0.1:0"}}}}
processors: {batch: {}, memory_limiter: {check_interval: 1s, limit_mib: 100}, attributes: {actions: [{key: a, value: b, action: insert}]},
             resource: {attributes: [{key: a, value: b, action: insert}]}}
exporters: {debug: {}, file: {path: /dev/null}, nop: {}, otlp: {endpoint: "127.0.0.1:1"}, otlphttp: {endpoint: "http://127.0.0.1:1"}}
service: {pipelines: {%s: {receivers: [otlp], processors: [%s], exporters: [%s]}}}
"""


def test_a_profiles_pipeline_needs_the_gate():
    with profiles_gate(False), pytest.raises(ConfigError) as err:
        parse(MINIMAL % ("profiles/cpu", "", "debug"))
    assert [str(i) for i in err.value.issues] == [
        'service::pipelines: pipeline "profiles/cpu": profiling signal support is at alpha level, '
        'gated under the "service.profilesSupport" feature gate']
    with profiles_gate(True):
        cfg = parse(MINIMAL % ("profiles/cpu", "memory_limiter", "debug, file, nop, otlp, otlphttp"))
    assert [str(p) for p in cfg.pipelines] == ["profiles/cpu"]


@pytest.mark.parametrize("processor", ["batch", "attributes"])
def test_components_without_profiles_get_upstreams_error(processor):
    with profiles_gate(True), pytest.raises(ConfigError) as err:
        parse(MINIMAL % ("profiles", processor, "debug"))
    assert str(err.value.issues[0]) == (
        f'service::pipelines::profiles: processor "{processor}" does not support profiles (otelcol: failed to create '
        f'"{processor}" processor, in pipeline "profiles": telemetry type is not supported)')


def test_a_component_upstream_lets_in_but_otelflow_does_not_says_so():
    with profiles_gate(True), pytest.raises(ConfigError) as err:
        parse(MINIMAL % ("profiles", "resource", "debug"))
    assert "otelcol supports it; otelflow passes profiles through unchanged only" in str(err.value.issues[0])


# -- pass-through, byte for byte ---------------------------------------------------------------------

async def test_grpc_and_http_protobuf_pass_through_byte_for_byte():
    backend = await RawProfilesBackend().start()
    gp, hp = free_port(), free_port()
    sent_grpc = profiles_request(("checkout", "cart")).SerializeToString()
    sent_http = profiles_request(("search",)).SerializeToString()
    try:
        with profiles_gate():
            async with running(pass_through_config(gp, hp, backend, "memory_limiter")) as service:
                answer = await grpc_export(gp, sent_grpc)
                assert answer == b"\n\x00"  # an empty partial_success, present, as upstream answers
                await backend.wait_for(1, 1)
                status, body, ctype = await http_post(hp, sent_http, PB)
                assert (status, ctype) == (200, PB)
                assert body == b"\n\x00"
                await backend.wait_for(2, 2)
                accepted = service.telemetry.value("otelcol_receiver_accepted_profile_samples", receiver="otlp")
                for _ in range(100):  # the exporters count once the backend has answered
                    sent = [service.telemetry.value("otelcol_exporter_sent_profile_samples", exporter=e)
                            for e in ("otlp", "otlphttp")]
                    if sent == [8, 8]:
                        break
                    await asyncio.sleep(0.05)
    finally:
        await backend.stop()
    assert backend.grpc_bodies == [sent_grpc, sent_http]
    assert [b for _, b in backend.http_bodies] == [sent_grpc, sent_http]
    assert {t for t, _ in backend.http_bodies} == {PB}
    assert accepted == 3 + 2 + 3  # pprofile's SampleCount: samples, not profiles
    assert sent == [8, 8]


def test_a_persistent_queue_keeps_profiles_as_sent():
    request = profiles_request()
    stored = persistent_queue.encode(Signal.PROFILES, request, 5)
    assert persistent_queue.decode(stored) == (request, 5)


async def test_json_in_arrives_as_the_same_message():
    backend = await RawProfilesBackend().start()
    gp, hp = free_port(), free_port()
    request = profiles_request()
    try:
        with profiles_gate():
            async with running(pass_through_config(gp, hp, backend)):
                status, body, ctype = await http_post(hp, otlpjson.encode(request), JS)
                await backend.wait_for(1, 1)
    finally:
        await backend.stop()
    assert (status, ctype) == (200, JS)
    assert json.loads(body) == {"partialSuccess": {}}
    assert ExportProfilesServiceRequest.FromString(backend.grpc_bodies[0]) == request
    assert backend.grpc_bodies[0] == request.SerializeToString()
    assert ExportProfilesServiceRequest.FromString(backend.http_bodies[0][1]) == request


def test_profile_ids_in_json_are_hex_as_pdata_writes_them():
    request = profiles_request(("one",))
    tree = json.loads(otlpjson.encode(request))
    profile = tree["resourceProfiles"][0]["scopeProfiles"][0]["profiles"][0]
    assert profile["profileId"] == "a0" * 16
    assert tree["dictionary"]["linkTable"][1] == {"traceId": bytes(range(1, 17)).hex(), "spanId": bytes(range(1, 9)).hex()}
    assert otlpjson.decode(otlpjson.encode(request), ExportProfilesServiceRequest) == request


async def test_otlphttp_json_encoding_and_profiles_endpoint():
    backend = await RawProfilesBackend().start()
    gp = free_port()
    request = profiles_request()
    config = f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{gp}"}}}}}}}}
exporters:
  otlphttp:
    profiles_endpoint: "http://127.0.0.1:{backend.http_port}{HTTP_PATH}"
    encoding: json
service: {{pipelines: {{profiles: {{receivers: [otlp], exporters: [otlphttp]}}}}}}
"""
    try:
        with profiles_gate():
            async with running(config):
                await grpc_export(gp, request.SerializeToString())
                await backend.wait_for(0, 1)
    finally:
        await backend.stop()
    ctype, body = backend.http_bodies[0]
    assert ctype == JS
    assert body == otlpjson.encode(request)


# -- bad input --------------------------------------------------------------------------------------

BAD_PROTO = b"\x0a\xff\xff\xff\xff\x0f"  # a length past the end of the message


def _bad_id_request() -> bytes:
    req = profiles_request(("bad",))
    req.resource_profiles[0].scope_profiles[0].profiles[0].profile_id = b"\x01\x02\x03"
    return req.SerializeToString()


async def test_malformed_profiles_get_the_codes_other_signals_get_and_the_collector_keeps_serving():
    backend = await RawProfilesBackend().start()
    gp, hp = free_port(), free_port()
    good = profiles_request().SerializeToString()
    try:
        with profiles_gate():
            async with running(pass_through_config(gp, hp, backend)):
                for body in (BAD_PROTO, _bad_id_request()):
                    with pytest.raises(grpc.aio.AioRpcError) as err:
                        await grpc_export(gp, body)
                    assert err.value.code() is grpc.StatusCode.INTERNAL
                    assert err.value.details().startswith("grpc: error unmarshalling request: ")
                    status, answer, ctype = await http_post(hp, body, PB)
                    assert (status, ctype) == (400, PB)
                    assert status_pb2.Status.FromString(answer).code == 3  # InvalidArgument
                bad_json = [b"{", b'{"resourceProfiles": 3}',
                            b'{"resourceProfiles":[{"scopeProfiles":[{"profiles":[{"profileId":"abc"}]}]}]}']
                for body in bad_json:
                    status, answer, ctype = await http_post(hp, body, JS)
                    assert (status, ctype) == (400, JS), body
                    assert json.loads(answer)["code"] == 3
                assert await grpc_export(gp, good) is not None
                status, _, _ = await http_post(hp, good, PB)
                assert status == 200
                await backend.wait_for(2, 2)
    finally:
        await backend.stop()
    assert backend.grpc_bodies == [good, good]


async def test_a_request_without_samples_is_answered_without_reaching_the_pipeline():
    backend = await RawProfilesBackend().start()
    gp, hp = free_port(), free_port()
    empty = ExportProfilesServiceRequest()
    empty.resource_profiles.add().scope_profiles.add().profiles.add()
    try:
        with profiles_gate():
            async with running(pass_through_config(gp, hp, backend)):
                await grpc_export(gp, empty.SerializeToString())
                status, _, _ = await http_post(hp, empty.SerializeToString(), PB)
                await asyncio.sleep(0.3)
    finally:
        await backend.stop()
    assert status == 200
    assert backend.grpc_bodies == [] and backend.http_bodies == []  # as upstream: SampleCount() == 0


# -- debug and file exporters -----------------------------------------------------------------------

TESTDATA = Path(__file__).parent / "testdata" / "profiles"


def test_debug_text_matches_otelcol_ref():
    """normal and detailed text of the debug exporter, as otelcol-ref v0.161.0 printed them for the
    same request (goldens recorded with tests/test_profiles.py::record_otelcol_ref_goldens)."""
    request = profiles_request()
    assert profiles_normal(request) == (TESTDATA / "debug_normal.txt").read_text()
    assert profiles_text(request) == (TESTDATA / "debug_detailed.txt").read_text()


async def test_debug_and_file_exporters_write_profiles(tmp_path):
    gp = free_port()
    debug_out, file_out = tmp_path / "debug.txt", tmp_path / "profiles.jsonl"
    request = profiles_request()
    config = f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{gp}"}}}}}}}}
exporters:
  debug: {{verbosity: detailed, use_internal_logger: false, output_paths: ["{debug_out}"]}}
  file: {{path: "{file_out}"}}
service: {{pipelines: {{profiles: {{receivers: [otlp], exporters: [debug, file]}}}}}}
"""
    with profiles_gate():
        async with running(config):
            await grpc_export(gp, request.SerializeToString())
    lines = file_out.read_bytes().splitlines()
    assert lines == [otlpjson.encode(request)]  # one JSON line per request, as for the other signals
    assert otlpjson.decode(lines[0], ExportProfilesServiceRequest) == request
    text = debug_out.read_text()
    summary = 'Profiles\t{"resource profiles": 2, "sample records": 5}\n'  # upstream's basic line
    assert text == summary + (TESTDATA / "debug_detailed.txt").read_text() + "\n"  # each entry ends a line, as for other signals


# -- a real otelflow process, and otelcol-ref beside it ----------------------------------------------

async def test_a_real_process_with_the_gate_flag_passes_profiles_through(tmp_path):
    backend = await RawProfilesBackend().start()
    gp, hp = free_port(), free_port()
    sent = profiles_request().SerializeToString()
    config = pass_through_config(gp, hp, backend, "memory_limiter")
    (tmp_path / "config.yaml").write_text(config)
    refused = subprocess.run([sys.executable, "-m", "otelflow", "--config", str(tmp_path / "config.yaml")],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert 'profiling signal support is at alpha level, gated under the "service.profilesSupport" feature gate' in refused.stderr
    # two workers, as the product runs by default (docs/scaling.md)
    proc = Collector(config, "--feature-gates=service.profilesSupport", "--workers", "2").start()
    try:
        await grpc_export(gp, sent)
        status, _, _ = await http_post(hp, sent, PB)
        assert status == 200
        await backend.wait_for(2, 2)
    finally:
        assert proc.stop() == 0
        await backend.stop()
    assert backend.grpc_bodies == [sent, sent]
    assert [b for _, b in backend.http_bodies] == [sent, sent]


def resolve_references(request: ExportProfilesServiceRequest) -> ExportProfilesServiceRequest:
    """pprofile's resolveProfilesReferences: resource and scope attributes whose key or string
    value otelcol wrote as an index into the dictionary's string table, written out again."""
    out = ExportProfilesServiceRequest()
    out.CopyFrom(request)
    strings = out.dictionary.string_table

    def resolve(kvs) -> None:
        for kv in kvs:
            if kv.key_strindex > 0 and not kv.key and kv.key_strindex < len(strings):
                kv.key, kv.key_strindex = strings[kv.key_strindex], 0
            value = kv.value
            if value.WhichOneof("value") == "string_value_strindex" and 0 < value.string_value_strindex < len(strings):
                value.string_value = strings[value.string_value_strindex]
            elif value.WhichOneof("value") == "kvlist_value":
                resolve(value.kvlist_value.values)

    for rp in out.resource_profiles:
        resolve(rp.resource.attributes)
        for sp in rp.scope_profiles:
            resolve(sp.scope.attributes)
    return out


def without_interned_strings(request: ExportProfilesServiceRequest, count: int) -> ExportProfilesServiceRequest:
    out = resolve_references(request)
    del out.dictionary.string_table[len(out.dictionary.string_table) - count:]
    return out


def test_otelcol_ref_moves_resource_attribute_strings_into_the_dictionary():
    """What otelcol-ref v0.161.0 forwards for the same request (recorded): the same profiles, but
    pdata re-encodes resource and scope attributes as string-table references (5 strings appended).
    otelflow forwards the client's message unchanged instead (docs/signals/profiles.md)."""
    forwarded = ExportProfilesServiceRequest.FromString((TESTDATA / "otelcol_ref_forwarded.binpb").read_bytes())
    request = profiles_request()
    assert forwarded != request
    assert list(forwarded.dictionary.string_table[-5:]) == ["service.name", "checkout", "host.name", "node-7", "cart"]
    assert without_interned_strings(forwarded, 5) == request


OTELCOL_REF = Path(__file__).parent.parent / "bench" / ".build" / "bin" / "otelcol-ref"


def _otelcol_ref() -> str:
    """The live comparisons skip where otelcol-ref is not built (CI builds none), as the other
    otelcol-ref comparisons do; what they check is also recorded in tests/testdata/profiles/."""
    if not OTELCOL_REF.exists():
        pytest.skip(f"{OTELCOL_REF} is not built (make -C bench ref)")
    return str(OTELCOL_REF)


@pytest.mark.parametrize("case,gate,processors", [
    ("gate off", False, ""), ("gate on", True, ""), ("memory_limiter", True, "memory_limiter"),
    ("batch", True, "batch"), ("attributes", True, "attributes"),
])
def test_the_same_configs_are_accepted_and_refused_as_by_otelcol_ref(tmp_path, case, gate, processors):
    ref = _otelcol_ref()
    path = tmp_path / "config.yaml"
    path.write_text(MINIMAL % ("profiles", processors, "debug, file, nop, otlp, otlphttp"))
    gates = ["--feature-gates=service.profilesSupport"] if gate else []
    theirs = subprocess.run([ref, "validate", "--config", str(path), *gates], capture_output=True, text=True, timeout=60)
    ours = subprocess.run([sys.executable, "-m", "otelflow", "validate", "--config", str(path), *gates],
                          capture_output=True, text=True, timeout=60)
    assert (ours.returncode == 0) == (theirs.returncode == 0), (ours.stderr, theirs.stderr)
    if theirs.returncode:
        # otelcol's own sentence is in otelflow's message
        reason = theirs.stderr.strip().rsplit(": ", 1)[-1] if "telemetry type" in theirs.stderr else \
            theirs.stderr.strip().split('pipeline "profiles": ', 1)[-1]
        assert reason in ours.stderr, (reason, ours.stderr)


async def test_otelcol_ref_forwards_what_was_recorded(tmp_path):
    ref = _otelcol_ref()
    backend = await RawProfilesBackend().start()
    gp, hp = free_port(), free_port()
    request = profiles_request()
    path = tmp_path / "config.yaml"
    # no self-telemetry listener: otelcol-ref would take :8888, which other processes may hold
    path.write_text(pass_through_config(gp, hp, backend).replace("processors: []", "")
                    .replace("service:\n", "service:\n  telemetry: {metrics: {level: none}}\n"))
    log = open(tmp_path / "otelcol.log", "wb")
    proc = subprocess.Popen([ref, "--config", str(path), "--feature-gates=service.profilesSupport"], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            if b"Everything is ready" in (tmp_path / "otelcol.log").read_bytes():
                break
            assert proc.poll() is None, (tmp_path / "otelcol.log").read_text()
            await asyncio.sleep(0.1)
        else:
            pytest.fail("otelcol-ref did not start: " + (tmp_path / "otelcol.log").read_text())
        await grpc_export(gp, request.SerializeToString())
        status, _, _ = await http_post(hp, otlpjson.encode(request), JS)
        assert status == 200
        await backend.wait_for(2, 2)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
        await backend.stop()
    recorded = (TESTDATA / "otelcol_ref_forwarded.binpb").read_bytes()
    assert backend.grpc_bodies == [recorded, recorded]
    assert [b for _, b in backend.http_bodies] == [recorded, recorded]


async def test_a_config_shaped_like_grafanas_lgtm_image_runs(tmp_path):
    """The shape of grafana/docker-otel-lgtm's collector config: four pipelines, batch on the three
    stable ones, profiles straight from the otlp receiver to an ``otlp_grpc`` exporter whose endpoint
    has an http:// scheme, started with ``--feature-gates service.profilesSupport`` (two words)."""
    backend = await RawProfilesBackend().start()
    gp, hp, health = free_port(), free_port(), free_port()
    sent = profiles_request().SerializeToString()
    config = f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{gp}"}}
      http: {{endpoint: "127.0.0.1:{hp}", cors: {{allowed_origins: ["http://*"]}}}}
extensions:
  health_check: {{endpoint: "127.0.0.1:{health}", path: /ready}}
processors:
  batch:
exporters:
  otlp_http/traces: {{endpoint: "http://127.0.0.1:{free_port()}", tls: {{insecure: true}}}}
  otlp_http/metrics: {{endpoint: "http://127.0.0.1:{free_port()}/api/v1/otlp", tls: {{insecure: true}}}}
  otlp_http/logs: {{endpoint: "http://127.0.0.1:{free_port()}/otlp", tls: {{insecure: true}}}}
  otlp_grpc/profiles: {{endpoint: "http://127.0.0.1:{backend.grpc_port}", tls: {{insecure: true}}}}
  debug/traces: {{verbosity: detailed}}
service:
  extensions: [health_check]
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [otlp_http/traces]}}
    metrics: {{receivers: [otlp], processors: [batch], exporters: [otlp_http/metrics]}}
    logs: {{receivers: [otlp], processors: [batch], exporters: [otlp_http/logs]}}
    profiles: {{receivers: [otlp], exporters: [otlp_grpc/profiles]}}
"""
    proc = Collector(config, "--feature-gates", "service.profilesSupport").start()
    try:
        await grpc_export(gp, sent)
        status, _, _ = await http_post(hp, sent, PB)
        assert status == 200
        await backend.wait_for(2, 0)
    finally:
        assert proc.stop() == 0
        await backend.stop()
    assert backend.grpc_bodies == [sent, sent]


async def test_the_forward_connector_joins_profiles_pipelines_byte_for_byte():
    backend = await RawProfilesBackend().start()
    gp = free_port()
    sent = profiles_request().SerializeToString()
    config = f"""
receivers: {{otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{gp}"}}}}}}}}
connectors: {{forward: {{}}}}
exporters: {{otlp: {{endpoint: "127.0.0.1:{backend.grpc_port}", tls: {{insecure: true}}}}}}
service:
  pipelines:
    profiles/in: {{receivers: [otlp], exporters: [forward]}}
    profiles/out: {{receivers: [forward], exporters: [otlp]}}
"""
    try:
        with profiles_gate():
            async with running(config):
                await grpc_export(gp, sent)
                await backend.wait_for(1, 0)
    finally:
        await backend.stop()
    assert backend.grpc_bodies == [sent]


CONNECTOR_CASES = {
    "forward": """
receivers: {nop: {}}
exporters: {nop: {}}
connectors: {forward: {}}
service:
  pipelines:
    profiles/a: {receivers: [nop], exporters: [forward]}
    profiles/b: {receivers: [forward], exporters: [nop]}
""",
    "otlp_json to profiles": """
receivers: {nop: {}}
exporters: {nop: {}}
connectors: {otlp_json: {}}
service:
  pipelines:
    logs: {receivers: [nop], exporters: [otlp_json]}
    profiles: {receivers: [otlp_json], exporters: [nop]}
""",
}


@pytest.mark.parametrize("case", list(CONNECTOR_CASES))
def test_connectors_in_profiles_pipelines_as_otelcol_ref(tmp_path, case):
    ref = _otelcol_ref()
    path = tmp_path / "config.yaml"
    path.write_text(CONNECTOR_CASES[case])
    gate = "--feature-gates=service.profilesSupport"
    theirs = subprocess.run([ref, "validate", "--config", str(path), gate], capture_output=True, text=True, timeout=60)
    ours = subprocess.run([sys.executable, "-m", "otelflow", "validate", "--config", str(path), gate],
                          capture_output=True, text=True, timeout=60)
    assert (ours.returncode, theirs.returncode) in ((0, 0), (1, 1)), (ours.stderr, theirs.stderr)
