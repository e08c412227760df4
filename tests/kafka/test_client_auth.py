"""The shared Kafka client settings (otelflow.kafka) against a real broker with SASL and TLS
listeners (tests/kafka_broker.py): the kafka exporter delivers with SASL PLAIN, SCRAM-SHA-256 and
SCRAM-SHA-512, over TLS with a client certificate and over SASL_SSL; a wrong password is a
retryable error that names the authentication failure while the collector keeps serving and the
data waits; settings otelflow cannot honour are refused with their YAML path."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelflow.config import collector, loader
from otelflow.config.model import ConfigError, validate
from otelflow.core.consumer import ConsumerError, PermanentError
from otelflow.core.registry import default_registry
from otelflow.kafka import ClientConfig, librdkafka_settings
from tests.backends import free_port
from tests.conftest import running
from tests.exporters.helpers import started_exporter
from tests.kafka_broker import SECURE_USERS, kafka_secure_broker  # noqa: F401 - the module fixture
from tests.sdk import SDKApp, flatten, merged


def _request(name: str, n: int = 3) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    for i in range(n):
        scope.spans.add(trace_id=bytes([i + 1]) * 16, span_id=bytes([i + 1]) * 8, name=f"{name}-{i}")
    return req


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 20.0) -> list:
    """Every record of ``topic`` (read over the plaintext listener) once ``expected`` are there."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{topic}", "enable.auto.commit": False})
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        c.assign([TopicPartition(topic, p, 0) for p in md.partitions])
        out: list = []
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is not None and msg.error() is None:
                out.append(msg)
        while (msg := c.poll(0.3)) is not None:
            if msg.error() is None:
                out.append(msg)
        return out
    finally:
        c.close()


# -- settings -> librdkafka -------------------------------------------------------------------------


def test_librdkafka_settings():
    def conf(data: dict) -> dict:
        return librdkafka_settings(validate(ClientConfig, data, "exporters::kafka"))

    plain = conf({"brokers": ["a:1", "b:2"], "client_id": "me", "rack_id": "r1",
                  "metadata": {"refresh_interval": "30s", "retry": {"backoff": "100ms"}}})
    assert plain["bootstrap.servers"] == "a:1,b:2" and plain["client.id"] == "me"
    assert plain["security.protocol"] == "PLAINTEXT" and plain["client.rack"] == "r1"
    assert plain["topic.metadata.refresh.interval.ms"] == 30000
    assert (plain["retry.backoff.ms"], plain["retry.backoff.max.ms"]) == (100, 5000)
    assert not any(k.startswith(("ssl.", "sasl.")) for k in plain)

    sasl = {"sasl": {"mechanism": "SCRAM-SHA-512", "username": "u", "password": "p"}}
    c = conf({"auth": sasl})
    assert c["security.protocol"] == "SASL_PLAINTEXT"
    assert (c["sasl.mechanisms"], c["sasl.username"], c["sasl.password"]) == ("SCRAM-SHA-512", "u", "p")

    c = conf({"auth": sasl, "tls": {"ca_file": "/ca.pem", "cert_file": "/c.pem", "key_file": "/k.pem"}})
    assert c["security.protocol"] == "SASL_SSL"
    assert (c["ssl.ca.location"], c["ssl.certificate.location"], c["ssl.key.location"]) == ("/ca.pem", "/c.pem", "/k.pem")
    assert c["ssl.endpoint.identification.algorithm"] == "https" and "enable.ssl.certificate.verification" not in c

    c = conf({"tls": {"insecure_skip_verify": True, "ca_pem": "PEM"}})
    assert c["security.protocol"] == "SSL" and c["ssl.ca.pem"] == "PEM"
    assert c["enable.ssl.certificate.verification"] is False

    # configtls: insecure without a CA means no TLS at all; with a CA it still means TLS
    assert conf({"tls": {"insecure": True}})["security.protocol"] == "PLAINTEXT"
    assert conf({"tls": {"insecure": True, "ca_file": "/ca"}})["security.protocol"] == "SSL"
    assert conf({"tls": {}})["security.protocol"] == "SSL"
    # include_system_ca_certs_pool: one bundle file with the system roots and the configured CA
    bundle = conf({"tls": {"ca_pem": "-----CONFIGURED CA-----", "include_system_ca_certs_pool": True}})["ssl.ca.location"]
    with open(bundle) as f:
        text = f.read()
    assert text.rstrip().endswith("-----CONFIGURED CA-----") and len(text) > 1000
    assert conf({"protocol_version": "3.1.2"})["broker.version.fallback"] == "3.1.0"
    assert conf({"protocol_version": "0.8.2"})["api.version.request"] is False


def _parse_error(exporter: str) -> str:
    yaml = f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:0"}}}}}}}}
exporters:
  kafka:
{exporter}
service: {{pipelines: {{traces: {{receivers: [otlp], exporters: [kafka]}}}}}}
"""
    with pytest.raises(ConfigError) as info:
        collector.parse(loader.load([f"yaml:{yaml}"]), default_registry)
    return str(info.value)


@pytest.mark.parametrize("block, message", [
    ("auth: {sasl: {mechanism: AWS_MSK_IAM_OAUTHBEARER, aws_msk: {region: us-east-1}}}",
     "exporters::kafka::auth::sasl: mechanism AWS_MSK_IAM_OAUTHBEARER is not supported by otelflow's Kafka client"),
    ("auth: {sasl: {mechanism: AWS_MSK_IAM_OAUTHBEARER}}",
     "exporters::kafka::auth::sasl: region is required for AWS_MSK_IAM_OAUTHBEARER mechanism"),
    ("auth: {sasl: {mechanism: OAUTHBEARER, oauthbearer_token_source: oauth2client}}",
     "exporters::kafka::auth::sasl: mechanism OAUTHBEARER is not supported"),
    ("auth: {sasl: {mechanism: FANCY}}",
     "exporters::kafka::auth::sasl: mechanism should be one of 'PLAIN', 'AWS_MSK_IAM_OAUTHBEARER', "
     "'OAUTHBEARER', 'SCRAM-SHA-256' or 'SCRAM-SHA-512'. configured value FANCY"),
    ("auth: {sasl: {mechanism: PLAIN, username: a}}", "exporters::kafka::auth::sasl: password is required"),
    ("auth: {kerberos: {service_name: kafka}}", "exporters::kafka::auth: kerberos authentication is not supported"),
    ("auth: {tls: {ca_file: ca.pem}}", "exporters::kafka::auth::tls: unknown key"),
    ("tls: {server_name_override: kafka.internal}", "exporters::kafka::tls: server_name_override is not supported"),
    ("tls: {min_version: '1.3'}", "exporters::kafka::tls: otelflow's Kafka client uses TLS 1.2 and 1.3 only"),
    ("tls: {reload_interval: 1m}", "exporters::kafka::tls: reload_interval is not supported"),
    ("protocol_version: none", 'exporters::kafka: invalid protocol version: "none"'),
    ("metadata: {retry: {max: -1}}", "metadata::retry::max (-1) must be non-negative"),
])
def test_refused_settings_name_their_path(block, message):
    assert message in _parse_error(f"    {block}")


# -- delivery over authenticated listeners ----------------------------------------------------------


def _secure_configs(broker) -> dict[str, dict]:
    tls = {"ca_file": broker.ca_file}
    mtls = {**tls, "cert_file": broker.client_cert, "key_file": broker.client_key}
    return {
        "plain": {"brokers": [broker.sasl_bootstrap],
                  "auth": {"sasl": {"mechanism": "PLAIN", "username": "alice", "password": SECURE_USERS["alice"]}}},
        "scram256": {"brokers": [broker.sasl_bootstrap],
                     "auth": {"sasl": {"mechanism": "SCRAM-SHA-256", "username": "bob", "password": SECURE_USERS["bob"]}}},
        "scram512": {"brokers": [broker.sasl_bootstrap],
                     "auth": {"sasl": {"mechanism": "SCRAM-SHA-512", "username": "alice", "password": SECURE_USERS["alice"]}}},
        "mtls": {"brokers": [broker.ssl_bootstrap], "tls": mtls},
        "sasl_ssl": {"brokers": [broker.sasl_ssl_bootstrap], "tls": tls,
                     "auth": {"sasl": {"mechanism": "SCRAM-SHA-512", "username": "bob", "password": SECURE_USERS["bob"]}}},
    }


@pytest.mark.parametrize("case", ["plain", "scram256", "scram512", "mtls", "sasl_ssl"])
async def test_exporter_delivers(kafka_secure_broker, case):
    broker = kafka_secure_broker
    topic = f"auth_{case}"
    broker.create_topic(topic, 2)
    req = _request(case)
    exp = await started_exporter("kafka", {**_secure_configs(broker)[case], "traces": {"topic": topic},
                                           "partition_traces_by_id": True, "sending_queue": {"enabled": False},
                                           "retry_on_failure": {"enabled": False}, "timeout": "10s"})
    try:
        await exp.consume(req)  # returns once the broker acknowledged every record
    finally:
        await exp.shutdown()
    recs = await asyncio.to_thread(read_topic, broker.bootstrap, topic, 3)
    assert len(recs) == 3
    assert flatten(merged([ExportTraceServiceRequest.FromString(r.value()) for r in recs])) == flatten(req)


async def test_tls_without_client_certificate_is_refused_by_the_broker(kafka_secure_broker):
    """The SSL listener requires a client certificate: without cert_file/key_file nothing is
    delivered and the error says why (proving the certificate is what the mtls case sent)."""
    broker = kafka_secure_broker
    exp = await started_exporter("kafka", {"brokers": [broker.ssl_bootstrap], "tls": {"ca_file": broker.ca_file},
                                           "traces": {"topic": "auth_nocert"}, "sending_queue": {"enabled": False},
                                           "retry_on_failure": {"enabled": False}, "timeout": "3s"})
    try:
        with pytest.raises(ConsumerError) as info:
            await exp.consume(_request("nocert"))
    finally:
        await exp.shutdown()
    assert not isinstance(info.value, PermanentError)
    assert "client error" in str(info.value) and "SSL" in str(info.value)


async def test_full_collector_over_sasl_ssl_with_sdk_input(kafka_secure_broker):
    broker = kafka_secure_broker
    topic = "auth_sdk"
    broker.create_topic(topic, 1)
    port = free_port()
    yaml = f"""
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}
exporters:
  kafka:
    brokers: ["{broker.sasl_ssl_bootstrap}"]
    traces: {{topic: {topic}}}
    tls: {{ca_file: "{broker.ca_file}"}}
    auth:
      sasl: {{mechanism: SCRAM-SHA-256, username: alice, password: "{SECURE_USERS['alice']}"}}
service: {{pipelines: {{traces: {{receivers: [otlp], exporters: [kafka]}}}}}}
"""
    async with running(yaml):
        app = SDKApp("http", f"http://127.0.0.1:{port}")
        await asyncio.to_thread(app.emit, 3)
        await asyncio.to_thread(app.shutdown)
        sent = app.spans.sent
        recs = await asyncio.to_thread(read_topic, broker.bootstrap, topic, len(sent))
    got = [ExportTraceServiceRequest.FromString(r.value()) for r in recs]
    assert flatten(merged(got)) == flatten(merged(sent))


# -- wrong credentials --------------------------------------------------------------------------------


async def test_wrong_password_is_a_clear_retryable_error(kafka_secure_broker):
    broker = kafka_secure_broker
    exp = await started_exporter("kafka", {
        "brokers": [broker.sasl_bootstrap], "traces": {"topic": "auth_wrong"}, "timeout": "3s",
        "auth": {"sasl": {"mechanism": "SCRAM-SHA-512", "username": "alice", "password": "not-her-password"}},
        "sending_queue": {"enabled": False}, "retry_on_failure": {"enabled": False}})
    try:
        with pytest.raises(ConsumerError) as info:
            await exp.consume(_request("wrong"))
    finally:
        await exp.shutdown()
    assert not isinstance(info.value, PermanentError)  # credentials can be fixed while data waits
    text = str(info.value)
    assert "error exporting to topic 'auth_wrong'" in text
    assert "SASL authentication error" in text and "invalid credentials" in text, text


async def test_wrong_password_keeps_collector_serving_and_data_queued(kafka_secure_broker):
    """The user's password is wrong until the broker's SCRAM credential is changed to the one the
    collector has: meanwhile the collector accepts data, which waits in the sending queue and is
    delivered, all of it, once authentication works."""
    broker = kafka_secure_broker
    topic, user, password = "auth_fixed_later", "carol", "carol-new-secret"
    broker.create_topic(topic, 1)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})

    def set_password(pw: str) -> None:
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096)
        for fut in admin.alter_user_scram_credentials([UserScramCredentialUpsertion(user, info, pw.encode())]).values():
            fut.result(20)

    await asyncio.to_thread(set_password, "carol-old-secret")
    port = free_port()
    yaml = f"""
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}
exporters:
  kafka:
    brokers: ["{broker.sasl_bootstrap}"]
    traces: {{topic: {topic}}}
    timeout: 2s
    retry_on_failure: {{initial_interval: 200ms, max_interval: 1s, max_elapsed_time: 120s}}
    auth:
      sasl: {{mechanism: SCRAM-SHA-256, username: {user}, password: {password}}}
service: {{pipelines: {{traces: {{receivers: [otlp], exporters: [kafka]}}}}}}
"""
    async with running(yaml):
        app = SDKApp("http", f"http://127.0.0.1:{port}")
        await asyncio.to_thread(app.emit, 3)
        await asyncio.to_thread(app.flush)  # accepted into the queue; attempts fail authentication
        await asyncio.sleep(4)
        async with aiohttp.ClientSession() as session:  # still serving while exports fail
            async with session.post(f"http://127.0.0.1:{port}/v1/traces", data=_request("extra").SerializeToString(),
                                    headers={"Content-Type": "application/x-protobuf"}) as resp:
                assert resp.status == 200
        assert await asyncio.to_thread(read_topic, broker.bootstrap, topic, 1, 1.0) == []
        await asyncio.to_thread(set_password, password)
        await asyncio.to_thread(app.shutdown)
        sent = [*app.spans.sent, _request("extra")]
        recs = await asyncio.to_thread(read_topic, broker.bootstrap, topic, len(sent), 30.0)
    got = [ExportTraceServiceRequest.FromString(r.value()) for r in recs]
    # nothing accepted was lost; a retried batch may arrive twice (at-least-once)
    assert set(flatten(merged(got))) == set(flatten(merged(sent)))
