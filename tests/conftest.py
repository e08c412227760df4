import contextlib
import os
from typing import AsyncIterator

import pytest

from otelflow.config import collector, loader
from otelflow.core.registry import Registry, default_registry
from otelflow.core.service import Service
from tests.backends import HTTPBackend

# otelflow runs one worker per CPU by default; the suite starts many collectors side by side, so
# they run as one process each unless a test asks for workers (tests/core/workers/).
os.environ["OTELFLOW_WORKERS"] = "1"


@contextlib.asynccontextmanager
async def running(yaml_text: str, registry: Registry = default_registry) -> AsyncIterator[Service]:
    """An in-process collector for one test, started from YAML text and always shut down."""
    cfg = collector.parse(loader.load([f"yaml:{yaml_text}"]), registry)
    service = Service(cfg, registry)
    await service.start()
    try:
        yield service
    finally:
        await service.shutdown(timeout=20)


@pytest.fixture
async def backend():
    """A real OTLP/HTTP backend that records what it receives (modules may override it)."""
    b = await HTTPBackend().start()
    yield b
    await b.stop()


@pytest.fixture
def collector_running():
    return running
