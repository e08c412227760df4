"""Answers the otlp receiver gives as upstream's does, for inputs the fuzz runs against otelcol-ref
found answered differently (docs/fuzzing.md)."""

import gzip
import json

import aiohttp
import pytest

from tests.backends import HTTPBackend, free_port
from tests.conftest import running
from tests.receivers.test_otlp import JSON_BODY, _trace_request, forwarding_config

PB, JS = "application/x-protobuf", "application/json"
SPAN = '{"resourceSpans":[{"scopeSpans":[{"spans":[%s]}]}]}'

CASES = [
    # name, method, path, headers, body, status
    ("parameter without value", "POST", "/v1/traces", {"Content-Type": "application/json; charset"}, JSON_BODY, 415),
    ("unknown encoding before 415", "POST", "/v1/traces", {"Content-Type": "text/plain", "Content-Encoding": "br"}, b"x", 500),
    ("unknown encoding before 405", "GET", "/v1/traces", {"Content-Type": PB, "Content-Encoding": "br"}, b"", 400),
    ("unknown encoding before 404", "POST", "/nope", {"Content-Type": PB, "Content-Encoding": "br"}, b"", 400),
    ("bad gzip header before 415", "POST", "/v1/traces", {"Content-Type": "text/plain", "Content-Encoding": "gzip"}, b"x", 500),
    ("bad gzip body after 415", "POST", "/v1/traces", {"Content-Type": "text/plain", "Content-Encoding": "gzip"},
     gzip.compress(b"x" * 50)[:12] + b"garbage", 415),
    ("gzip with trailing garbage", "POST", "/v1/traces", {"Content-Type": PB, "Content-Encoding": "gzip"},
     gzip.compress(_trace_request().SerializeToString()) + b"junk", 400),
    ("JSON null", "POST", "/v1/traces", {"Content-Type": JS}, b"null", 200),
    ("JSON with bytes after it", "POST", "/v1/traces", {"Content-Type": JS}, b"{} x", 200),
    ("JSON null span", "POST", "/v1/traces", {"Content-Type": JS}, (SPAN % "null").encode(), 200),
    ("JSON unknown enum name", "POST", "/v1/traces", {"Content-Type": JS}, (SPAN % '{"kind":"NOPE"}').encode(), 400),
    ("JSON lone surrogate enum", "POST", "/v1/traces", {"Content-Type": JS}, (SPAN % '{"kind":"\\ud800"}').encode(), 400),
    ("JSON exponent for an integer", "POST", "/v1/traces", {"Content-Type": JS},
     (SPAN % '{"startTimeUnixNano":1e3}').encode(), 400),
    ("JSON negative unsigned", "POST", "/v1/traces", {"Content-Type": JS}, (SPAN % '{"flags":-1}').encode(), 500),
    ("JSON bad base64", "POST", "/v1/traces", {"Content-Type": JS}, (SPAN % json.dumps(
        {"attributes": [{"key": "a", "value": {"bytesValue": "!!"}}]})).encode(), 400),
    ("JSON invalid UTF-8 in a string", "POST", "/v1/traces", {"Content-Type": JS}, (SPAN % '{"name":"\xff"}').encode("latin-1"), 200),
    ("JSON nested past the limit", "POST", "/v1/traces", {"Content-Type": JS},
     b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}", 400),
]


@pytest.mark.parametrize("name,method,path,headers,body,status", CASES, ids=[c[0] for c in CASES])
async def test_upstream_status(name, method, path, headers, body, status):
    hb = await HTTPBackend().start()
    hp = free_port()
    async with running(forwarding_config(free_port(), hp, None, hb.endpoint)):
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            async with session.request(method, f"http://127.0.0.1:{hp}{path}", data=body, headers=headers,
                                       skip_auto_headers=["Content-Type"]) as r:
                assert r.status == status, await r.read()
    await hb.stop()
