"""Config trees that once raised something other than ConfigError (found by tests/fuzz)."""

import pytest

from otelflow.config import collector
from otelflow.config.errors import ConfigError
from otelflow.core.registry import default_registry


@pytest.mark.parametrize("tree", [
    {"receivers": True, "service": {"pipelines": {}}},  # a section that is not a map
    {"": 1, "service": {"pipelines": {}}},  # an empty top-level key
])
def test_bad_trees_are_config_errors_with_paths(tree):
    with pytest.raises(ConfigError) as err:
        collector.parse(tree, default_registry)
    assert all(issue.path for issue in err.value.issues)


def test_an_unknown_key_that_looks_like_a_union_tag_is_named():
    tree = {"receivers": {"otlp": {"protocols": {"grpc": {"[": None}}}}, "exporters": {"debug": {}},
            "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}}}}
    with pytest.raises(ConfigError) as err:
        collector.parse(tree, default_registry)
    (issue,) = err.value.issues
    assert issue.path == "receivers::otlp::protocols::grpc::[" and issue.message.startswith("unknown key")
