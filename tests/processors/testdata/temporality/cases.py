"""Writes the temporality conformance cases (config.yaml + input.json, a list of requests sent in order).

    python tests/processors/testdata/temporality/cases.py   # then record.py with otelcol-ref

Timestamps: PAST streams started before any collector did (cumulativetodelta's ``auto`` drops their
first point), FUTURE ones after (it keeps it).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
PAST = 1_700_000_000_000_000_000
FUTURE = 4_102_444_800_000_000_000
S = 1_000_000_000


def attrs(**kv):
    out = []
    for k, v in kv.items():
        if isinstance(v, bool):
            out.append({"key": k, "value": {"boolValue": v}})
        elif isinstance(v, int):
            out.append({"key": k, "value": {"intValue": str(v)}})
        elif isinstance(v, float):
            out.append({"key": k, "value": {"doubleValue": v}})
        else:
            out.append({"key": k, "value": {"stringValue": v}})
    return out


def request(metrics, resource=None, scope=None):
    return {"resourceMetrics": [{"resource": {"attributes": resource if resource is not None else attrs(**{"service.name": "svc"})},
                                 "scopeMetrics": [{"scope": scope or {"name": "lib", "version": "1"}, "metrics": metrics}]}]}


def num(ts, value, start, a=None, **extra):
    dp = {"startTimeUnixNano": str(start), "timeUnixNano": str(ts), "attributes": a if a is not None else attrs(host="a")}
    if isinstance(value, float) or value == "NaN":
        dp["asDouble"] = value
    elif value is not None:
        dp["asInt"] = str(value)
    dp.update(extra)
    return dp


def sum_metric(name, points, temporality=2, monotonic=True, unit="1"):
    return {"name": name, "unit": unit, "sum": {"aggregationTemporality": temporality, "isMonotonic": monotonic, "dataPoints": points}}


def hist(ts, start, count, sum_, counts, bounds, a=None, **extra):
    dp = {"startTimeUnixNano": str(start), "timeUnixNano": str(ts), "count": str(count), "bucketCounts": [str(c) for c in counts],
          "explicitBounds": bounds, "attributes": a if a is not None else attrs(host="a")}
    if sum_ is not None:
        dp["sum"] = sum_
    dp.update(extra)
    return dp


def hist_metric(name, points, temporality=2):
    return {"name": name, "unit": "ms", "histogram": {"aggregationTemporality": temporality, "dataPoints": points}}


def expo(ts, start, scale, count, sum_, pos, neg=(0, []), zero_count=0, zero_threshold=0.0, a=None, **extra):
    dp = {"startTimeUnixNano": str(start), "timeUnixNano": str(ts), "count": str(count), "scale": scale,
          "zeroCount": str(zero_count), "positive": {"offset": pos[0], "bucketCounts": [str(c) for c in pos[1]]},
          "negative": {"offset": neg[0], "bucketCounts": [str(c) for c in neg[1]]},
          "attributes": a if a is not None else attrs(host="a")}
    if zero_threshold:
        dp["zeroThreshold"] = zero_threshold
    if sum_ is not None:
        dp["sum"] = sum_
    dp.update(extra)
    return dp


def expo_metric(name, points, temporality=2):
    return {"name": name, "unit": "s", "exponentialHistogram": {"aggregationTemporality": temporality, "dataPoints": points}}


def gauge(ts, value):
    return {"name": "g", "gauge": {"dataPoints": [num(ts, value, 0)]}}


CASES: dict[str, tuple[dict, list]] = {}


def case(name, processors, requests, description=""):
    CASES[name] = ({"signal": "metrics", "description": description, "processors": processors}, requests)


# --- cumulativetodelta ------------------------------------------------------------------------

def c2d_sums(base):
    b2 = base + 100 * S
    return [
        request([sum_metric("requests", [num(base + 1 * S, 10, base)]), sum_metric("ratio", [num(base + 1 * S, 1.5, base)]),
                 sum_metric("updown", [num(base + 1 * S, 7, base)], monotonic=False),
                 sum_metric("already_delta", [num(base + 1 * S, 7, base)], temporality=1), gauge(base + S, 3),
                 sum_metric("empty", [])]),
        request([sum_metric("requests", [num(base + 2 * S, 15, base), num(base + 2 * S, 4, base, attrs(host="b"))]),
                 sum_metric("ratio", [num(base + 2 * S, 2.75, base)])]),
        request([sum_metric("requests", [num(base + 3 * S, 15, base)]), sum_metric("ratio", [num(base + 3 * S, "NaN", base)])]),
        request([sum_metric("requests", [num(base + 4 * S, 3, base)]), sum_metric("ratio", [num(base + 4 * S, 2.0, base)])]),
        request([sum_metric("requests", [num(base + 5 * S, 8, base), num(base + 5 * S, 9, base, flags=1)]),
                 sum_metric("ratio", [num(base + 5 * S, 4.25, base)])]),
        # the producer restarted: a new start time is a new stream
        request([sum_metric("requests", [num(b2 + 1 * S, 2, b2), num(base + 5 * S, 9, base, attrs(host="b"))])]),
        request([sum_metric("requests", [num(b2 + 2 * S, 6, b2), num(b2 + 2 * S, -9223372036854775807, b2, attrs(host="z"))])]),
        request([sum_metric("requests", [num(b2 + 3 * S, 9223372036854775807, b2, attrs(host="z"))])]),
    ]


case("c2d_sums_past", {"cumulativetodelta": None}, c2d_sums(PAST), "auto: first point of a stream that started earlier is dropped")
case("c2d_sums_future", {"cumulativetodelta": None}, c2d_sums(FUTURE), "auto: first point kept when its start is after the processor's")
case("c2d_sums_keep", {"cumulative_to_delta": {"initial_value": "keep"}}, c2d_sums(PAST), "keep, via the new name")
case("c2d_sums_drop", {"cumulativetodelta": {"initial_value": "drop"}}, c2d_sums(FUTURE))

B = [1.0, 5.0, 10.0]
case("c2d_histograms", {"cumulativetodelta": {"initial_value": "keep"}}, [
    request([hist_metric("lat", [hist(PAST + S, PAST, 4, 20.0, [1, 1, 1, 1], B, min=0.5, max=12.0),
                                 hist(PAST + S, PAST, 2, None, [1, 1, 0, 0], B, attrs(host="nosum"))]),
             hist_metric("lat_delta", [hist(PAST + S, PAST, 1, 1.0, [1, 0, 0, 0], B)], temporality=1),
             hist_metric("lat_empty", [])]),
    request([hist_metric("lat", [hist(PAST + 2 * S, PAST, 7, 31.5, [2, 2, 2, 1], B, min=0.5, max=12.0),
                                 hist(PAST + 2 * S, PAST, 3, None, [2, 1, 0, 0], B, attrs(host="nosum"))])]),
    request([hist_metric("lat", [hist(PAST + 3 * S, PAST, 9, "NaN", [3, 2, 2, 2], B)])]),
    request([hist_metric("lat", [hist(PAST + 4 * S, PAST, 5, 10.0, [1, 1, 2, 1], B)])]),       # reset: dropped, state kept
    request([hist_metric("lat", [hist(PAST + 5 * S, PAST, 12, 50.0, [4, 3, 3, 2], B)])]),
    request([hist_metric("lat", [hist(PAST + 6 * S, PAST, 13, 51.0, [4, 3, 3, 2, 1], B + [20.0])])]),  # bucket mismatch
    request([hist_metric("lat", [hist(PAST + 7 * S, PAST, 14, 52.0, [5, 3, 3, 2, 1], B + [20.0])])]),
    request([hist_metric("lat", [hist(PAST + 8 * S, PAST, 15, 53.0, [5, 4, 3, 2, 1], [1.0, 5.0, 10.0, 30.0])])]),
    request([hist_metric("lat", [hist(PAST + 9 * S, PAST, 16, 54.0, [5, 4, 3, 2, 2], [1.0, 5.0, 10.0, 30.0], flags=1)])]),
])

case("c2d_exponential", {"cumulativetodelta": {"initial_value": "keep"}}, [
    request([expo_metric("dur", [expo(PAST + S, PAST, 3, 6, 12.5, (2, [1, 2, 0, 1]), (0, [1]), zero_count=1, min=0.1, max=9.0)])]),
    request([expo_metric("dur", [expo(PAST + 2 * S, PAST, 3, 10, 20.0, (2, [2, 2, 0, 3, 1]), (-1, [1, 1]), zero_count=1)])]),
    # the producer lowered its scale: the previous buckets are coarsened before the difference
    request([expo_metric("dur", [expo(PAST + 3 * S, PAST, 2, 14, 30.0, (1, [2, 5, 4]), (-1, [2]), zero_count=2)])]),
    # a wider zero bucket absorbs the lowest buckets of the previous point
    request([expo_metric("dur", [expo(PAST + 4 * S, PAST, 2, 16, 31.0, (2, [5, 6]), (-1, [2]), zero_count=5, zero_threshold=1.5)])]),
    request([expo_metric("dur", [expo(PAST + 5 * S, PAST, 2, 15, 31.0, (2, [5, 6]), (-1, [2]), zero_count=5, zero_threshold=1.5)])]),
    request([expo_metric("dur", [expo(PAST + 6 * S, PAST, 3, 20, 40.0, (2, [5, 6]), (-1, [2]), zero_count=5, zero_threshold=1.5)])]),
    request([expo_metric("dur", [expo(PAST + 7 * S, PAST, 2, 20, "NaN", (2, [5, 6]), (-1, [2]), zero_count=5, zero_threshold=1.5)])]),
    request([expo_metric("dur", [expo(PAST + 8 * S, PAST, 2, 22, 41.0, (2, [6, 7]), (-1, [2]), zero_count=5, zero_threshold=1.5)])]),
])

case("c2d_include_exclude", {"cumulativetodelta": {
    "include": {"match_type": "regexp", "metrics": ["^req", "lat"], "metric_types": ["Sum", "histogram"]},
    "exclude": {"match_type": "strict", "metrics": ["requests_excluded"]}, "initial_value": "keep"}}, [
    request([sum_metric("requests", [num(PAST + S, 10, PAST)]), sum_metric("requests_excluded", [num(PAST + S, 10, PAST)]),
             sum_metric("other", [num(PAST + S, 10, PAST)]), hist_metric("lat", [hist(PAST + S, PAST, 1, 1.0, [1, 0, 0, 0], B)]),
             expo_metric("latency_expo", [expo(PAST + S, PAST, 0, 1, 1.0, (0, [1]))])]),
    request([sum_metric("requests", [num(PAST + 2 * S, 12, PAST)]), sum_metric("requests_excluded", [num(PAST + 2 * S, 12, PAST)]),
             sum_metric("other", [num(PAST + 2 * S, 12, PAST)]), hist_metric("lat", [hist(PAST + 2 * S, PAST, 2, 3.0, [1, 1, 0, 0], B)]),
             expo_metric("latency_expo", [expo(PAST + 2 * S, PAST, 0, 2, 2.0, (0, [2]))])]),
])

case("c2d_identity", {"cumulativetodelta": {"initial_value": "keep"}}, [
    request([sum_metric("m", [num(PAST + S, 10, PAST, attrs(a="1", b=2))])], scope={"name": "lib", "version": "1", "attributes": attrs(x="1")}),
    request([sum_metric("m", [num(PAST + 2 * S, 12, PAST, attrs(b=2, a="1"))])], scope={"name": "lib", "version": "1", "attributes": attrs(x="2")}),
    request([sum_metric("m", [num(PAST + 3 * S, 15, PAST, attrs(b=2, a="1"))])], resource=attrs(**{"service.name": "other"})),
    request([sum_metric("m", [num(PAST + 4 * S, 19, PAST, attrs(b=2, a="1"))], unit="By")]),
    request([sum_metric("m", [num(PAST + 5 * S, 20.5, PAST, attrs(b=2, a="1"))])], resource=[]),
    request([sum_metric("m", [num(PAST + 6 * S, 21.5, PAST, attrs(b=2, a="1"))])], resource=[]),
])

case("c2d_err_match_type", {"cumulativetodelta": {"include": {"metrics": ["a"]}}}, [])
case("c2d_err_metrics", {"cumulativetodelta": {"exclude": {"match_type": "strict"}}}, [])
case("c2d_err_metric_type", {"cumulativetodelta": {"include": {"metric_types": ["gauge"]}}}, [])
case("c2d_err_initial_value", {"cumulativetodelta": {"initial_value": "sometimes"}}, [])

# --- deltatocumulative ------------------------------------------------------------------------

case("d2c_sums", {"deltatocumulative": None}, [
    request([sum_metric("hits", [num(PAST + S, 5, PAST, exemplars=[{"timeUnixNano": str(PAST), "asInt": "1"}])], temporality=1),
             sum_metric("ratio", [num(PAST + S, 0.5, PAST)], temporality=1),
             sum_metric("updown", [num(PAST + S, -2, PAST)], temporality=1, monotonic=False),
             sum_metric("cumul", [num(PAST + S, 9, PAST)]), gauge(PAST + S, 1), sum_metric("empty", [], temporality=1)]),
    request([sum_metric("hits", [num(PAST + 3 * S, 2, PAST + 2 * S, attrs(host="a"), flags=1)], temporality=1),   # gap
             sum_metric("ratio", [num(PAST + 2 * S, 0.25, PAST + S)], temporality=1),
             sum_metric("updown", [num(PAST + 2 * S, -3, PAST + S)], temporality=1, monotonic=False)]),
    request([sum_metric("hits", [num(PAST + 2 * S, 100, PAST + S)], temporality=1),                 # out of order
             sum_metric("ratio", [num(PAST + 2 * S, 7.0, PAST + S)], temporality=1)]),               # same timestamp
    request([sum_metric("hits", [num(PAST + 4 * S, 100, PAST - S)], temporality=1)]),               # older start
    request([sum_metric("hits", [num(PAST + 5 * S, 4, PAST + 4 * S), num(PAST + 5 * S, 1.5, PAST + 4 * S)], temporality=1),
             sum_metric("ratio", [num(PAST + 5 * S, 3, PAST + 4 * S)], temporality=1)]),             # int into double and back
    request([sum_metric("hits", [num(PAST + 6 * S, 9223372036854775807, PAST + 5 * S)], temporality=1)]),
    request([sum_metric("hits", [num(0, 1, 0, attrs(host="zero")), num(PAST + 6 * S, 1, 0, attrs(host="zero"))], temporality=1)]),
])

case("d2c_histograms", {"delta_to_cumulative": {}}, [
    request([hist_metric("lat", [hist(PAST + S, PAST, 4, 20.0, [1, 1, 1, 1], B, min=0.5, max=12.0),
                                 hist(PAST + S, PAST, 2, None, [1, 1, 0, 0], B, attrs(host="nosum"), min=1.0)], temporality=1),
             hist_metric("lat_cumul", [hist(PAST + S, PAST, 1, 1.0, [1, 0, 0, 0], B)])]),
    request([hist_metric("lat", [hist(PAST + 2 * S, PAST + S, 3, 1.5, [2, 1, 0, 0], B, min=0.1, max=3.0),
                                 hist(PAST + 2 * S, PAST + S, 3, 4.0, [1, 1, 1, 0], B, attrs(host="nosum"), min=0.7)], temporality=1)]),
    request([hist_metric("lat", [hist(PAST + 3 * S, PAST + 2 * S, 2, 3.0, [0, 1, 1], B, min=2.0)], temporality=1)]),   # fewer buckets
    request([hist_metric("lat", [hist(PAST + 4 * S, PAST + 3 * S, 2, 30.0, [0, 0, 1, 0, 1], B + [20.0])], temporality=1)]),  # new bounds
    request([hist_metric("lat", [hist(PAST + 5 * S, PAST + 4 * S, 1, "NaN", [0, 0, 0, 0, 1], B + [20.0], max=25.0)], temporality=1)]),
    request([hist_metric("lat", [hist(PAST + 5 * S, PAST + 4 * S, 1, 1.0, [1, 0, 0, 0, 0], B + [20.0])], temporality=1)]),
])

case("d2c_exponential", {"deltatocumulative": None}, [
    request([expo_metric("dur", [expo(PAST + S, PAST, 3, 6, 12.5, (2, [1, 2, 0, 1]), (-3, [1]), zero_count=1, min=0.1, max=9.0),
                                 expo(PAST + S, PAST, 0, 1, 1.0, (0, [1]), a=attrs(host="wide"))], temporality=1)]),
    # lower scale in the delta: the state is downscaled to it
    request([expo_metric("dur", [expo(PAST + 2 * S, PAST + S, 1, 4, 8.0, (1, [1, 3]), (-1, [1, 0, 0]), zero_count=2, min=0.5, max=4.0),
                                 expo(PAST + 2 * S, PAST + S, 0, 2, 1e30, (150, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), a=attrs(host="wide"))],
                                temporality=1)]),
    # higher scale in the delta: the delta is downscaled; a wider zero threshold absorbs buckets
    request([expo_metric("dur", [expo(PAST + 3 * S, PAST + 2 * S, 4, 5, 3.0, (9, [1, 1, 1, 1, 1]), zero_threshold=2.5, zero_count=0),
                                 expo(PAST + 3 * S, PAST + 2 * S, 0, 2, 2.0, (-20, [2]), a=attrs(host="wide"))], temporality=1)]),
    request([expo_metric("dur", [expo(PAST + 4 * S, PAST + 3 * S, 1, 1, None, (5, [1]), (4, [0, 1]))], temporality=1)]),
    request([expo_metric("dur", [expo(PAST + 5 * S, PAST + 4 * S, 1, 0, 0.0, (0, []))], temporality=1)]),
    request([expo_metric("dur", [expo(PAST + 6 * S, PAST + 5 * S, -1, 3, 9.0, (-2, [1, 0, 2]), a=attrs(host="wide"))], temporality=1)]),
])

case("d2c_max_streams", {"deltatocumulative": {"max_streams": 2}}, [
    request([sum_metric("s", [num(PAST + S, 1, PAST, attrs(host=h)) for h in "abc"], temporality=1),
             hist_metric("h", [hist(PAST + S, PAST, 1, 1.0, [1, 0, 0, 0], B)], temporality=1)]),
    request([sum_metric("s", [num(PAST + 2 * S, 1, PAST + S, attrs(host=h)) for h in "cba"], temporality=1)]),
    request([sum_metric("s", [num(PAST + 3 * S, 1, PAST + 2 * S, attrs(host="d"))], temporality=1)]),
])

case("d2c_identity", {"deltatocumulative": None}, [
    request([sum_metric("m", [num(PAST + S, 1, PAST, attrs(a="1", b=2))], temporality=1)], scope={"name": "lib", "version": "1", "attributes": attrs(x="1")}),
    request([sum_metric("m", [num(PAST + 2 * S, 2, PAST + S, attrs(b=2, a="1"))], temporality=1)], scope={"name": "lib", "version": "1", "attributes": attrs(x="1")}),
    request([sum_metric("m", [num(PAST + 3 * S, 4, PAST + 2 * S, attrs(b=2, a="1"))], temporality=1)], scope={"name": "lib", "version": "1", "attributes": attrs(x="2")}),
    request([sum_metric("m", [num(PAST + 4 * S, 8, PAST + 3 * S, attrs(b=2, a="1"))], temporality=1, monotonic=False)]),
    request([sum_metric("m", [num(PAST + 5 * S, 16, PAST + 4 * S, attrs(b=2, a="1"))], temporality=1, monotonic=False)]),
])

case("d2c_err_max_stale", {"deltatocumulative": {"max_stale": "0s"}}, [])
case("d2c_err_max_stale_negative", {"deltatocumulative": {"max_stale": "-90s"}}, [])
case("d2c_err_max_streams", {"deltatocumulative": {"max_streams": -1}}, [])


def main() -> None:
    for name, (cfg, requests) in CASES.items():
        d = HERE / name
        d.mkdir(exist_ok=True)
        (d / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        (d / "input.json").write_text(json.dumps(requests, indent=1) + "\n")
        print(name)


if __name__ == "__main__":
    main()
