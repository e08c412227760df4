"""A real single-node Apache Kafka 4.x broker (KRaft) on loopback, for the Kafka tests.

The jars come from Maven Central via ``scripts/install-kafka.sh``; the fixture runs that script
(instant when the cache is filled), formats a fresh log dir, starts ``kafka.Kafka`` on free ports
and waits until the broker answers a metadata request. ``KafkaBroker.restart()`` keeps the log dir
(and the ports), so broker-restart tests see their acknowledged data again.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

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


class KafkaBroker:
    """One KRaft broker+controller process; ``bootstrap`` is ``127.0.0.1:<port>``."""

    def __init__(self, workdir: Path, home: Path):
        self.workdir = workdir
        self.home = home
        self.port = _free_port()
        self.controller_port = _free_port()
        self.logs = workdir / "data"
        self.config = workdir / "server.properties"
        self.output = workdir / "broker.out"
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

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
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
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
                "",
            ])
        )
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "-t", cid, "-c", str(self.config),
                       heap="-Xmx256m"),
            check=True, capture_output=True, timeout=60,
        )

    def start(self, timeout: float = 60) -> "KafkaBroker":
        out = self.output.open("ab")
        self.proc = subprocess.Popen(
            self._java("kafka.Kafka", str(self.config)), stdout=out, stderr=subprocess.STDOUT,
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


@pytest.fixture(scope="session")
def kafka_broker():
    """Session-wide broker; tests use their own topics."""
    home = install()
    workdir = Path(tempfile.mkdtemp(prefix="otelflow-kafka-"))
    broker = KafkaBroker(workdir, home)
    broker.format()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
