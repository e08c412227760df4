"""Records the prometheus receiver's goldens from otelcol-ref v0.161.0 (bench/.build/bin/otelcol-ref).

    python tests/receivers/testdata/prometheus/record.py [case ... | prometheus_server]

Each case's targets are served by tests/receivers/prometheus_rig.py's scripted servers, otelcol-ref
scrapes them with the case's config.yaml, and the normalised batches go to <case>/expected.json.
"""

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))

from tests.receivers import prometheus_rig as rig  # noqa: E402


async def record_server() -> None:
    """The schema of what otelcol-ref makes of the Debian Prometheus server's own /metrics."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = await rig.scrape_server(Path(tmp), lambda cfg: rig.RefCollector(cfg, Path(tmp)))
    rig.SERVER_SCHEMA.write_text(rig.dump(rig.schema(raw)))
    print(f"prometheus_server_schema: {len(rig.schema(raw))} metrics recorded")


async def main(names: list[str]) -> None:
    if not names or "prometheus_server" in names:
        await record_server()
    for case in rig.all_cases():
        if names and case.name not in names:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            runs = await rig.run_case(case, Path(tmp), lambda cfg: rig.RefCollector(cfg, Path(tmp)), timeout=90)
        missing = {n: (len(runs.get(n, [])), want) for n, want in case.batches.items() if len(runs.get(n, [])) < want}
        if missing:
            print(f"{case.name}: too few batches {missing}; golden not written")
            continue
        case.golden.write_text(rig.dump(runs))
        print(f"{case.name}: {sum(len(b) for b in runs.values())} batches recorded")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
