"""What every detector shares: the result type, per-attribute toggles, and the metadata endpoints.

A detector is an object with ``async detect() -> (attributes, schema_url)``; it raises DetectError
when detection failed (the processor then retries and reports it), and returns ``({}, "")`` when
it is simply not running on its platform, as upstream's detectors do.
"""

from __future__ import annotations

import contextvars
import os
import re
import time
from typing import Annotated, Any

import aiohttp
from pydantic import AfterValidator

from otelflow.config.model import Model

# The semantic-convention schema the detectors' attributes follow (upstream uses semconv v1.40.0).
SCHEMA_URL = "https://opentelemetry.io/schemas/1.40.0"

# The link-local metadata address the cloud providers serve (EC2, GCE, Azure all use it).
LINK_LOCAL = "169.254.169.254"
# otelflow-only: point every link-local metadata request (and the GCE probe) at another host:port,
# so tests never leave the loopback interface. Unset in production.
LINK_LOCAL_OVERRIDE_ENV = "OTELFLOW_LINK_LOCAL_METADATA"


def metadata_host() -> str:
    return os.environ.get(LINK_LOCAL_OVERRIDE_ENV, "").strip() or LINK_LOCAL


def link_local_overridden() -> bool:
    return bool(os.environ.get(LINK_LOCAL_OVERRIDE_ENV, "").strip())


# When the current detection must be over (time.monotonic()), set by the provider: detectors cut
# their own waits short so that they, like upstream's under a context deadline, report "unavailable"
# rather than being cancelled.
DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("resourcedetection_deadline", default=None)


def remaining() -> float | None:
    deadline = DEADLINE.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def bounded(timeout: aiohttp.ClientTimeout | None = None) -> aiohttp.ClientTimeout:
    """``timeout`` with its total capped by the detection deadline."""
    left = remaining()
    base = timeout or aiohttp.ClientTimeout()
    if left is None:
        return base
    total = max(0.001, left if base.total is None else min(base.total, left))
    return aiohttp.ClientTimeout(total=total, connect=base.connect, sock_connect=base.sock_connect, sock_read=base.sock_read)


class DetectError(Exception):
    """Detection failed (as opposed to: not on this platform)."""


class Toggle(Model):
    enabled: bool = False


def toggles(defaults: dict[str, bool]):
    """A ``resource_attributes`` field type: ``{name: {enabled: bool}}`` for the names listed only."""

    def check(value: dict[str, Toggle]) -> dict[str, Toggle]:
        unknown = sorted(set(value) - set(defaults))
        if unknown:
            raise ValueError(f"has invalid keys: {', '.join(unknown)}")
        return value

    return Annotated[dict[str, Toggle], AfterValidator(check)]


def enabled_set(defaults: dict[str, bool], configured: dict[str, Any] | None) -> set[str]:
    """Names enabled by default, with the user's ``enabled`` settings over them."""
    out = {name for name, on in defaults.items() if on}
    for name, toggle in (configured or {}).items():
        on = toggle.enabled if isinstance(toggle, Toggle) else bool(toggle.get("enabled", defaults.get(name)))
        (out.add if on else out.discard)(name)
    return out


class Builder:
    """Collects attributes in the order they are set, keeping only the enabled ones."""

    def __init__(self, enabled: set[str]):
        self.enabled = enabled
        self.attrs: dict[str, Any] = {}

    def set(self, name: str, value: Any) -> None:
        if name in self.enabled:
            self.attrs[name] = value

    def on(self, name: str) -> bool:
        return name in self.enabled


def compile_regexes(patterns: list[str]) -> list[re.Pattern]:
    out = []
    for pattern in patterns:
        try:
            out.append(re.compile(pattern))
        except re.error as exc:
            raise ValueError(f"error parsing regexp: {exc}: `{pattern}`") from None
    return out


def any_match(regexes: list[re.Pattern], value: str) -> bool:
    return any(r.search(value) for r in regexes)


async def http_get(session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None,
                   timeout: aiohttp.ClientTimeout | None = None) -> tuple[int, bytes]:
    """GET ``url``: (status, body); network errors become DetectError."""
    try:
        async with session.get(url, headers=headers or {}, timeout=bounded(timeout), allow_redirects=False) as resp:
            return resp.status, await resp.read()
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise DetectError(f'Get "{url}": {_reason(exc)}') from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "context deadline exceeded"
    return str(exc) or type(exc).__name__


def field(doc: Any, name: str, default: Any = "") -> Any:
    """``doc[name]`` with Go's encoding/json matching: the exact key, else any case-insensitive one."""
    if not isinstance(doc, dict):
        return default
    if name in doc:
        return doc[name]
    lowered = name.lower()
    for key, value in doc.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return default


def text(doc: Any, name: str) -> str:
    value = field(doc, name, "")
    return value if isinstance(value, str) else ""
