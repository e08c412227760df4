"""A real single-node Apache Kafka 4.x broker (KRaft) on loopback, for the Kafka tests.

The jars come from Maven Central via ``scripts/install-kafka.sh``; the fixture runs that script
(instant when the cache is filled), formats a fresh log dir, starts ``kafka.Kafka`` on free ports
and waits until the broker answers a metadata request. ``KafkaBroker.restart()`` keeps the log dir
(and the ports), so broker-restart tests see their acknowledged data again.

Optionally the broker also listens with authentication: ``sasl_users`` adds SASL_PLAINTEXT (and,
with ``tls``, SASL_SSL) listeners offering PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 for those users
(SCRAM credentials are written into the metadata log by ``kafka-storage format --add-scram``);
``tls`` adds an SSL listener that requires a client certificate, with certificates from
tests/certs.py. The PLAINTEXT listener stays the inter-broker one and ``bootstrap`` keeps meaning it.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / "scripts" / "install-kafka.sh"
POM = REPO / "scripts" / "kafka" / "pom.xml"

# Quiet console logging: WARN and above from the broker goes to its output file.
_LOG4J2 = """\
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
"""


def kafka_home() -> Path:
    version = re.search(r"<kafka.version>(.+?)</kafka.version>", POM.read_text()).group(1)
    default = Path.home() / ".cache" / "otelflow" / f"kafka-{version}"
    return Path(os.environ.get("OTELFLOW_KAFKA_HOME", default))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


class KafkaBroker:
    """One KRaft broker+controller process; ``bootstrap`` is ``127.0.0.1:<port>`` (PLAINTEXT);
    ``sasl_bootstrap``, ``ssl_bootstrap`` and ``sasl_ssl_bootstrap`` exist when configured."""

    def __init__(self, workdir: Path, home: Path, sasl_users: dict[str, str] | None = None, tls: bool = False):
        self.workdir = workdir
        self.home = home
        self.port = _free_port()
        self.controller_port = _free_port()
        self.sasl_users = dict(sasl_users or {})
        self.tls = tls
        self.sasl_port = _free_port() if self.sasl_users else None
        self.ssl_port = _free_port() if tls else None
        self.sasl_ssl_port = _free_port() if tls and self.sasl_users else None
        # PEM paths for clients: the CA and a client certificate the SSL listener accepts
        self.ca_file = self.client_cert = self.client_key = ""
        self.logs = workdir / "data"
        self.config = workdir / "server.properties"
        self.output = workdir / "broker.out"
        self.proc: subprocess.Popen | None = None
        self.launch_prefix: list[str] = []  # e.g. ["taskset", "-c", "0"] to pin the broker (bench/)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_port}"

    @property
    def ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.ssl_port}"

    @property
    def sasl_ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_ssl_port}"

    def _listeners(self) -> list[tuple[str, int]]:
        out = [("PLAINTEXT", self.port)]
        if self.sasl_port:
            out.append(("SASL_PLAINTEXT", self.sasl_port))
        if self.ssl_port:
            out.append(("SSL", self.ssl_port))
        if self.sasl_ssl_port:
            out.append(("SASL_SSL", self.sasl_ssl_port))
        return out

    def _security_lines(self) -> list[str]:
        lines = []
        if self.sasl_users:
            plain_users = " ".join(f'user_{u}="{p}"' for u, p in self.sasl_users.items())
            for name in ("sasl_plaintext", "sasl_ssl") if self.tls else ("sasl_plaintext",):
                lines += [
                    f"listener.name.{name}.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
                    f"listener.name.{name}.plain.sasl.jaas.config="
                    f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};",
                    *(f"listener.name.{name}.{m.lower()}.sasl.jaas.config="
                      "org.apache.kafka.common.security.scram.ScramLoginModule required;" for m in SCRAM_MECHANISMS),
                ]
        if self.tls:
            from tests.certs import CA

            ca = CA("otelflow kafka test CA")
            self.ca_file = ca.write(self.workdir)
            server = ca.issue("localhost")
            keystore = self.workdir / "broker-keystore.pem"
            keystore.write_bytes(server.key + server.cert)
            self.client_cert, self.client_key = ca.issue("otelflow-client", client=True).write(self.workdir, "client")
            lines += [
                "ssl.keystore.type=PEM",
                f"ssl.keystore.location={keystore}",
                "ssl.truststore.type=PEM",
                f"ssl.truststore.location={self.ca_file}",
                "listener.name.ssl.ssl.client.auth=required",
            ]
        return lines

    def _scram_args(self) -> list[str]:
        return [arg for user, pw in self.sasl_users.items() for m in SCRAM_MECHANISMS
                for arg in ("--add-scram", f"{m}=[name={user},password={pw}]")]

    def _java(self, *args: str, heap: str = "-Xmx512m") -> list[str]:
        return [
            "java", heap, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.yaml'}",
            "-cp", f"{self.home}/*", *args,
        ]

    def format(self) -> None:
        (self.workdir / "log4j2.yaml").write_text(_LOG4J2)
        self.config.write_text(
            "\n".join([
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                "listeners=" + ",".join([*(f"{n}://127.0.0.1:{p}" for n, p in self._listeners()),
                                         f"CONTROLLER://127.0.0.1:{self.controller_port}"]),
                "advertised.listeners=" + ",".join(f"{n}://127.0.0.1:{p}" for n, p in self._listeners()),
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=" + ",".join(
                    [*(f"{n}:{n}" for n, _ in self._listeners()), "CONTROLLER:PLAINTEXT"]),
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={self.logs}",
                "num.partitions=1",
                "auto.create.topics.enable=true",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                *self._security_lines(),
                "",
            ])
        )
        cid = "-"
        while cid.startswith("-"):  # an ID starting with "-" would be read as an option
            cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "-t", cid, "-c", str(self.config),
                       *self._scram_args(), heap="-Xmx256m"),
            check=True, capture_output=True, timeout=60,
        )

    def start(self, timeout: float = 60) -> "KafkaBroker":
        out = self.output.open("ab")
        self.proc = subprocess.Popen(
            [*self.launch_prefix, *self._java("kafka.Kafka", str(self.config))], stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Ready = a client gets cluster metadata with this broker in it."""
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + timeout
        admin = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"kafka exited {self.proc.returncode}:\n{self.output.read_text()[-3000:]}")
            try:
                if admin is None:  # a plain connect first, so librdkafka does not log refusals
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    admin = AdminClient({"bootstrap.servers": self.bootstrap})
                md = admin.list_topics(timeout=2)
                if md.brokers:
                    return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.3)
        raise TimeoutError(f"kafka not ready after {timeout}s:\n{self.output.read_text()[-3000:]}")

    def stop(self, timeout: float = 30) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, timeout: float = 60) -> None:
        """Stop (cleanly) and start again on the same ports and log dir."""
        self.stop()
        self.start(timeout)

    def create_topic(self, name: str, partitions: int = 1) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        fut = admin.create_topics([NewTopic(name, partitions, 1)])[name]
        fut.result(30)


def install() -> Path:
    if shutil.which("java") is None:
        pytest.skip("java is not installed")
    home = kafka_home()
    subprocess.run(["bash", str(INSTALL)], check=True, capture_output=True, timeout=600)
    return home


@contextlib.contextmanager
def running_broker(sasl_users: dict[str, str] | None = None, tls: bool = False) -> Iterator[KafkaBroker]:
    """A formatted, started broker in a fresh directory, stopped and removed afterwards."""
    home = install()
    workdir = Path(tempfile.mkdtemp(prefix="otelflow-kafka-"))
    broker = KafkaBroker(workdir, home, sasl_users=sasl_users, tls=tls)
    try:
        broker.format()
        broker.start()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_broker():
    """Session-wide broker; tests use their own topics."""
    with running_broker() as broker:
        yield broker


#: Users of ``kafka_secure_broker``: each works with PLAIN and both SCRAM mechanisms.
SECURE_USERS = {"alice": "alice-secret", "bob": "bob-secret"}


@pytest.fixture(scope="module")
def kafka_secure_broker():
    """A broker with SASL_PLAINTEXT, SSL (client certificate required) and SASL_SSL listeners."""
    with running_broker(sasl_users=SECURE_USERS, tls=True) as broker:
        yield broker
