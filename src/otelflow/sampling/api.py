"""``POST /api/v1/sampling/what-if`` of the web_ui extension: the what-if report for a policies YAML
over a time range of the store the UI reads.

The body is either JSON (``{"policies": "<yaml>", "start_us": .., "end_us": .., "processor": ..}``)
or the YAML itself (any other content type) with the range and processor in the query string; the
range defaults to the last hour. The replay runs on one of the store's reader threads; one what-if
runs at a time (another gets 429), since it keeps a core busy for seconds on a large store.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable

from otelflow.config.errors import ConfigError
from otelflow.sampling import policyfile, report
from otelflow.store.query_params import BadRequest, time_range

MAX_BODY = 1 << 20
_running = threading.Lock()
BUSY = "another what-if is running; try again when it is done"


def parse(body: str, content_type: str, query: Any) -> Callable[[Any], dict]:
    """The request checked (raises BadRequest with what is wrong); returns the job for a reader thread."""
    if len(body) > MAX_BODY:
        raise BadRequest(f"the policies are larger than {MAX_BODY} bytes")
    params: dict[str, Any] = dict(query)
    text = body
    if content_type == "application/json":
        try:
            doc = json.loads(body or "{}")
        except ValueError as exc:
            raise BadRequest(f"the body is not JSON: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("policies"), str):
            raise BadRequest('the JSON body needs "policies": the tail_sampling YAML as a string')
        text = doc["policies"]
        params.update({k: str(v) for k, v in doc.items() if k in ("start_us", "end_us", "processor") and v is not None})
    rng = time_range(params)
    try:
        processors = policyfile.pick(policyfile.from_text(text, "policies"), params.get("processor") or None)
    except ConfigError as exc:
        raise BadRequest(str(exc)) from None

    def job(cur) -> dict:
        return {"reports": report.what_if(cur, processors, rng["start_us"], rng["end_us"]), **rng}

    return job


def start() -> bool:
    """Take the what-if slot (False: another one runs); ``done`` gives it back."""
    return _running.acquire(blocking=False)


def done() -> None:
    _running.release()
