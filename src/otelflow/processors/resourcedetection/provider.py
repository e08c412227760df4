"""Runs the configured detectors concurrently, retries the ones that fail, and merges their results
in detector order (the first detector to set a key wins), as upstream's ResourceProvider does.

One detection is bounded by ``retry.max_elapsed_time`` when set, else by ``timeout``: startup never
waits longer than that. A failed detector makes the whole detection fail (and so the processor's
start), after the others' results were merged, as upstream does.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

from otelflow.core.telemetry import Telemetry
from otelflow.processors.resourcedetection.base import DEADLINE, DetectError

RESULTS = "otelcol_resourcedetection_detector_results"
ATTRIBUTES = "otelcol_resourcedetection_attributes_detected"


def merge_schema_url(current: str, new: str) -> str:
    return current or new


class Provider:
    def __init__(self, detectors: list[tuple[str, Any]], retry: Any, timeout: float,
                 logger: logging.Logger, telemetry: Telemetry):
        self.detectors = detectors
        self.retry = retry
        self.timeout = timeout
        self.logger = logger
        self.telemetry = telemetry
        self.attrs: dict[str, Any] = {}
        self.schema_url = ""
        self.had_success = False

    async def refresh(self) -> None:
        """Detect again; on failure keep a previous non-empty snapshot (and report no error)."""
        attrs, schema_url, error = await self._detect_all()
        if error is not None and self.had_success and self.attrs:
            self.logger.warning("resource refresh failed; keeping previous snapshot: %s", error)
            return
        self.attrs, self.schema_url = attrs, schema_url
        self.had_success = error is None
        self.telemetry.set(ATTRIBUTES, float(len(attrs)))
        if error is not None:
            raise DetectError(error)

    def _budget(self) -> float | None:
        if self.retry.enabled and self.retry.max_elapsed_time > 0:
            return self.retry.max_elapsed_time
        return self.timeout if self.timeout > 0 else None

    async def _detect_all(self) -> tuple[dict, str, str | None]:
        self.logger.info("began detecting resource information")
        budget = self._budget()
        token = DEADLINE.set(None if budget is None else time.monotonic() + budget)
        try:
            # a little grace past the deadline lets detectors report "unavailable" themselves
            grace = None if budget is None else budget + 0.5
            results = await asyncio.gather(*(self._detect_one(name, d, grace) for name, d in self.detectors))
        finally:
            DEADLINE.reset(token)
        merged: dict[str, Any] = {}
        schema_url, errors, successes = "", [], 0
        for ok, value in results:
            if not ok:
                errors.append(value)
                continue
            successes += 1
            attrs, url = value
            schema_url = merge_schema_url(schema_url, url)
            for key, v in attrs.items():
                merged.setdefault(key, v)
        self.logger.info("detected resource information: resource=%s", merged)
        if successes == 0 and not errors:
            return {}, "", "resource detection failed: no detectors succeeded"
        if successes == 0:
            return {}, "", "\n".join(errors)
        return merged, schema_url, ("\n".join(errors) if errors else None)

    async def _detect_one(self, name: str, detector: Any, budget: float | None) -> tuple[bool, Any]:
        started = time.monotonic()
        first_error: list[str] = []
        last_error: list[str] = []
        try:
            if budget is None:
                value = await self._attempts(name, detector, first_error, last_error)
            else:
                value = await asyncio.wait_for(self._attempts(name, detector, first_error, last_error), budget)
        except TimeoutError:
            error = "\n".join([*last_error[-1:], "context deadline exceeded"])
            self.logger.warning("resource detection cancelled: detector=%s error=%s", name, error.replace("\n", "; "))
            return self._fail(name, error)
        except DetectError as exc:
            if not self.retry.enabled:
                self.logger.warning("failed to detect resource: detector=%s error=%s", name, exc)
            return self._fail(name, str(exc))
        except Exception as exc:  # a detector bug must not kill the collector
            self.logger.error("resource detection failed: detector=%s error=%s", name, exc)
            return self._fail(name, f"{type(exc).__name__}: {exc}")
        self.telemetry.add(RESULTS, 1, detector=name, outcome="success")
        self.logger.debug("detector %s finished in %.3fs", name, time.monotonic() - started)
        return True, value

    def _fail(self, name: str, error: str) -> tuple[bool, str]:
        self.telemetry.add(RESULTS, 1, detector=name, outcome="failure", error_type="_OTHER")
        return False, error

    async def _attempts(self, name: str, detector: Any, first: list[str], last: list[str]) -> tuple[dict, str]:
        retry = self.retry
        if not retry.enabled:
            return await detector.detect()
        per_attempt = self.timeout if retry.max_elapsed_time > 0 and self.timeout > 0 else None
        interval = retry.initial_interval
        while True:
            try:
                if per_attempt is None:
                    return await detector.detect()
                return await asyncio.wait_for(detector.detect(), per_attempt)
            except (DetectError, TimeoutError) as exc:
                text = str(exc) if isinstance(exc, DetectError) else "context deadline exceeded"
                first[:] = first or [text]
                last[:] = [text]
                self.logger.warning("failed to detect resource, will retry: detector=%s error=%s", name, text)
            spread = retry.randomization_factor * interval
            await asyncio.sleep(max(0.0, interval + random.uniform(-spread, spread)))
            interval = min(interval * retry.multiplier, retry.max_interval)
