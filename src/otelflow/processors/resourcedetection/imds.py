"""A small client for the EC2 instance metadata service (IMDSv2 with IMDSv1 fallback), as the AWS
SDK's imds client behaves: AWS_EC2_METADATA_SERVICE_ENDPOINT and AWS_EC2_METADATA_DISABLED are
honoured, each attempt has a 250 ms connect and 500 ms response budget, failed attempts are retried
up to ``max_attempts`` with jittered backoff capped at ``max_backoff``."""

from __future__ import annotations

import asyncio
import json
import os
import random

import aiohttp

from otelflow.processors.resourcedetection.base import DetectError, bounded, metadata_host, remaining

_TOKEN_TTL = "21600"


def endpoint() -> str:
    configured = os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT", "").strip()
    return (configured or f"http://{metadata_host()}").rstrip("/")


class IMDS:
    def __init__(self, session: aiohttp.ClientSession, max_attempts: int = 3, max_backoff: float = 20.0):
        self.session = session
        self.max_attempts = max(1, max_attempts)
        self.max_backoff = max_backoff
        self.base = endpoint()
        self._token: str | None = None
        self._v1 = False
        self._timeout = aiohttp.ClientTimeout(sock_connect=0.25, sock_read=0.5)

    async def _attempt(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        url = self.base + path
        try:
            async with self.session.request(method, url, headers=headers, timeout=bounded(self._timeout)) as resp:
                return resp.status, (await resp.read()).decode(errors="replace")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            reason = "context deadline exceeded" if isinstance(exc, TimeoutError) else str(exc)
            raise DetectError(f"{method} {url}: {reason}") from None

    async def _retrying(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        last: DetectError | None = None
        for attempt in range(self.max_attempts):
            if attempt:
                delay = random.random() * min(self.max_backoff, float(2 ** attempt))
                left = remaining()
                if left is not None and delay >= left:
                    raise DetectError(f"{last}\ncontext deadline exceeded")
                await asyncio.sleep(delay)
            try:
                status, body = await self._attempt(method, path, headers)
            except DetectError as exc:
                last = exc
                continue
            if status >= 500 or status == 429:
                last = DetectError(f"{method} {self.base + path}: status {status}")
                continue
            return status, body
        raise DetectError(f"exceeded maximum number of attempts, {self.max_attempts}, {last}")

    async def _get_token(self) -> str | None:
        if self._v1:
            return None
        if self._token is None:
            status, body = await self._retrying("PUT", "/latest/api/token",
                                                {"X-aws-ec2-metadata-token-ttl-seconds": _TOKEN_TTL})
            if status in (400, 403):
                raise DetectError(f"failed to get API token, status {status}")
            if status != 200:  # the service does not offer IMDSv2: use IMDSv1
                self._v1 = True
                return None
            self._token = body
        return self._token

    async def get(self, path: str) -> str:
        if os.environ.get("AWS_EC2_METADATA_DISABLED", "").strip().lower() == "true":
            raise DetectError("access disabled to EC2 IMDS via client option, or \"AWS_EC2_METADATA_DISABLED\" environment variable")
        token = await self._get_token()
        status, body = await self._retrying("GET", path, {"X-aws-ec2-metadata-token": token} if token else {})
        if status != 200:
            raise DetectError(f"GET {self.base + path}: status code {status}")
        return body

    async def metadata(self, name: str) -> str:
        try:
            return await self.get("/latest/meta-data/" + name)
        except DetectError as exc:
            raise DetectError(f"failed to get {name} from IMDS: operation error ec2imds: GetMetadata, {exc}") from None

    async def identity(self) -> dict:
        try:
            doc = json.loads(await self.get("/latest/dynamic/instance-identity/document"))
        except (DetectError, ValueError) as exc:
            raise DetectError(f"failed to get instance identity document: {exc}") from None
        return doc if isinstance(doc, dict) else {}
