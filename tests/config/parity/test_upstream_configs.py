"""Upstream's own config testdata, with the verdicts of its config_test.go, fed to otelflow.

Each ``testdata/<component>/expectations.yaml`` lists cases (format in ``testdata/README.md``): a file
(or one key of it), upstream's verdict, and for rejections words the error must contain. otelflow
must agree, or say in ``upstream_incompatibilities()`` where it deliberately does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from otelflow.cli import main
from otelflow.config.errors import ConfigError
from otelflow.config.model import validate
from otelflow.core.component import Kind
from otelflow.core.registry import default_registry

TESTDATA = Path(__file__).parent / "testdata"


def _cases() -> list[Any]:
    out = []
    for spec_path in sorted(TESTDATA.glob("*/expectations.yaml")):
        try:
            spec = yaml.safe_load(spec_path.read_text())
        except yaml.YAMLError as exc:  # one broken file fails its own test, not the collection
            out.append(pytest.param(spec_path.parent, {}, {"name": "unreadable", "broken": str(exc)},
                                    id=f"{spec_path.parent.name}-expectations"))
            continue
        for case in spec["cases"]:
            marks = [pytest.mark.xfail(reason=case["xfail"], strict=True)] if case.get("xfail") else []
            out.append(pytest.param(spec_path.parent, spec, case, id=f"{spec_path.parent.name}-{case['name']}", marks=marks))
    return out


def _sub(tree: Any, key: str | None) -> Any:
    if not key:
        return tree
    for part in key.split("::"):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree


def _value_at(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(obj, dict):
            obj = obj[part]
        elif isinstance(obj, list):
            obj = obj[int(part)]
        else:
            obj = getattr(obj, part)
    return obj


def _collector_file(folder: Path, case: dict, tmp_path: Path) -> Path:
    """The file itself, or ``base`` with the file's content placed at the ``embed`` path."""
    if not case.get("embed"):
        return folder / case["file"]
    tree = yaml.safe_load((folder / case["base"]).read_text())
    *parents, last = case["embed"].split("::")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = yaml.safe_load((folder / case["file"]).read_text())
    out = tmp_path / "config.yaml"
    out.write_text(yaml.safe_dump(tree))
    return out


def _verdict_component(folder: Path, spec: dict, case: dict) -> tuple[Any, str]:
    """The validated model (or None) and the error text for one component case."""
    factory = default_registry.get(Kind(spec["kind"]), spec["type"])
    assert factory is not None, f'{spec["kind"]} "{spec["type"]}" is not registered'
    tree = yaml.safe_load((folder / case["file"]).read_text())
    try:
        return validate(factory.config, _sub(tree, case.get("sub")), spec["type"]), ""
    except ConfigError as err:
        return None, str(err)


@pytest.mark.parametrize(("folder", "spec", "case"), _cases())
def test_upstream_config_case(folder: Path, spec: dict, case: dict, capsys: pytest.CaptureFixture[str],
                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Upstream's tests run in the package directory, so "testdata/x" in a config is this folder's x.
    package = tmp_path / "package"
    package.mkdir()
    (package / "testdata").symlink_to(folder.resolve(), target_is_directory=True)
    (package / "tests").symlink_to(Path(__file__).parents[2].resolve(), target_is_directory=True)  # repo-relative paths
    monkeypatch.chdir(package)
    assert "broken" not in case, f"expectations.yaml does not parse: {case.get('broken')}"
    accepts_with_warning = bool(case.get("warning"))
    if case.get("scope") == "collector":
        code = main(["validate", "--config", str(_collector_file(folder, case, tmp_path))])
        captured = capsys.readouterr()
        model, error = None, captured.err if code else ""
        accepted = code == 0
        warnings_text = captured.err
    else:
        model, error = _verdict_component(folder, spec, case)
        accepted = model is not None
        warnings_text = "\n".join(getattr(model, "upstream_incompatibilities", list)()) if accepted else ""

    if case["valid"] or accepts_with_warning:
        assert accepted, f"upstream accepts this, otelflow rejects it:\n{error}"
    else:
        assert not accepted, "upstream rejects this, otelflow accepts it"
        missing = [w for w in case.get("error", []) if w.lower() not in error.lower()]
        assert not missing, f"error lacks {missing}:\n{error}"
    for word in case.get("warning", []):
        assert word.lower() in warnings_text.lower(), f'no upstream-difference warning mentioning "{word}":\n{warnings_text}'
    for dotted, expected in (case.get("values") or {}).items():
        assert model is not None, "values: needs a component case"
        got = _value_at(model, dotted)
        got = got.value if hasattr(got, "value") and not isinstance(got, (int, float, str)) else got
        assert got == expected, f"{dotted}: otelflow has {got!r}, upstream {expected!r}"
