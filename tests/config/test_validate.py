"""`otelflow validate` on every config under tests/testdata/config: good ones pass, bad ones list
exactly the expected problems (YAML path, what was expected, the closest valid name)."""

from pathlib import Path

import pytest

from otelflow.cli import main

CONFIGS = Path(__file__).parent.parent / "testdata" / "config"
SEED = Path(__file__).parents[3] / "shared" / "seed" / "otel-collector-config.yaml"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("good-*.yaml")), ids=lambda p: p.stem)
def test_good_config_validates(path, capsys, monkeypatch):
    monkeypatch.setenv("OTELFLOW_TEST_PORT", "4317")
    monkeypatch.setenv("OTELFLOW_TEST_TIMEOUT", "3s")
    assert main(["validate", "--config", str(path)]) == 0, capsys.readouterr().err
    assert "configuration is valid" in capsys.readouterr().out


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("bad-*.yaml")), ids=lambda p: p.stem)
def test_bad_config_lists_every_problem(path, capsys):
    assert main(["validate", "--config", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("Error: invalid configuration")
    assert [line.strip() for line in err[1:]] == path.with_suffix(".expected").read_text().splitlines()


def test_seed_config_reports_exactly_the_missing_component_types(capsys):
    if not SEED.exists():
        pytest.skip("the seed is not beside this checkout")
    code = main(["validate", "--config", str(SEED)])
    err = capsys.readouterr().err
    from otelflow.core.registry import default_registry
    from otelflow.core.component import Kind

    missing = [t for kind, t in [(Kind.PROCESSOR, "batch"), (Kind.PROCESSOR, "memory_limiter"),
                                 (Kind.PROCESSOR, "attributes"), (Kind.PROCESSOR, "resource"),
                                 (Kind.EXPORTER, "prometheus"), (Kind.EXPORTER, "otlphttp"), (Kind.RECEIVER, "otlp")]
               if default_registry.get(kind, t) is None]
    if not missing:
        assert code == 0, err
        return
    assert code == 1
    problems = [l.strip() for l in err.splitlines()[1:]]
    assert all("unknown" in p and "type" in p for p in problems), problems
    assert sorted(p.split('"')[1] for p in problems) == sorted(missing)


def test_set_and_merge_change_what_validate_sees(tmp_path, capsys):
    base = CONFIGS / "good-passthrough.yaml"
    over = tmp_path / "over.yaml"
    over.write_text("exporters:\n  otlp/tempo:\n    timeout: nonsense\n")
    assert main(["validate", "--config", str(base), "--config", str(over)]) == 1
    assert "exporters::otlp/tempo::timeout" in capsys.readouterr().err
    assert main(["validate", "--config", str(base), "--config", str(over),
                 "--set", "exporters::otlp/tempo::timeout=2s"]) == 0


def test_components_lists_kinds_and_signals(capsys):
    assert main(["components"]) == 0
    out = capsys.readouterr().out
    receivers = out.split("receivers:\n", 1)[1].split("processors:\n", 1)[0]
    assert "  - name: otlp\n" in receivers
    assert "signals: [traces->traces" not in out  # connector pairs are written source->target
    assert "traces->traces" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("otelflow ")
