"""Build an operator graph from `operators:` config and run batches of entries through it.

Upstream's rules: the default id is the type (repeated default ids become type1, type2, ...), an
operator without `output` feeds the next one, the last one feeds the receiver; explicit ids must be
unique, outputs must exist and the graph must be acyclic. Processing walks the graph in topological
order, one queue per operator, so a batch keeps its order.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import pydantic

from otelflow.config.errors import ConfigError, ConfigIssue, did_you_mean, join_path
from otelflow.config.model import validate
from otelflow.stanza.entry import Entry
from otelflow.stanza.operator import BuildError, Emit, Operator
from otelflow.stanza.registry import known_types, lookup
from otelflow.stanza.field import FieldError

SINK = ""  # the receiver
log = logging.getLogger("otelflow.stanza")


class Pipeline:
    """A built, validated operator graph. Not thread-safe; call from one task."""

    def __init__(self, operators: list[Operator], edges: dict[str, list[str]], order: list[str]) -> None:
        self.operators = {op.id: op for op in operators}
        self.first = operators[0].id if operators else SINK
        self._edges = edges
        self._order = order

    def process(self, entries: list[Entry]) -> list[Entry]:
        """Run entries through the graph; returns what reaches the receiver, in order."""
        if not self.operators:
            return list(entries)
        return self._run({self.first: list(entries)}, None, False)

    def flush(self, now_ns: int, force: bool = False) -> list[Entry]:
        """Release entries operators hold (recombine) whose time has come, or all with ``force``."""
        if not self.operators:
            return []
        return self._run({}, now_ns, force)

    @property
    def errors(self) -> int:
        return sum(op.errors for op in self.operators.values())

    def _run(self, queues: dict[str, list[Entry]], now_ns: int | None, force: bool) -> list[Entry]:
        out: list[Entry] = []
        for op_id in self._order:
            op = self.operators[op_id]
            pending = queues.pop(op_id, None)
            emits: list[Emit] = []
            if pending:
                for entry in pending:
                    emits.extend(op.process(entry))
            if now_ns is not None:
                emits.extend(op.flush(now_ns, force))
            if emits:
                self._deliver(op_id, emits, queues, out)
        return out

    def _deliver(self, op_id: str, emits: list[Emit], queues: dict[str, list[Entry]], out: list[Entry]) -> None:
        default = self._edges[op_id]
        for target, entry in emits:
            targets = default if target is None else [target]
            last = len(targets) - 1
            for i, t in enumerate(targets):
                e = entry if i == last else entry.copy()
                if t == SINK:
                    out.append(e)
                else:
                    queues.setdefault(t, []).append(e)


def build_pipeline(
    operators: list[dict[str, Any]] | None, path: str, warnings: list[ConfigIssue] | None = None
) -> Pipeline:
    """Validate and build `operators:`; every problem is a ConfigError naming its YAML path.

    Upstream decodes operator configs ignoring unknown keys, so a misspelt key is not an error
    there: it is dropped here too, and reported in ``warnings`` (or logged when none is given).
    """
    operators = operators or []
    ignored: list[ConfigIssue] = []
    issues: list[ConfigIssue] = []
    configs: list[tuple[int, Any]] = []
    for i, raw in enumerate(operators):
        where = join_path(path, i)
        if not isinstance(raw, dict):
            issues.append(ConfigIssue(where, "an operator must be a map with a `type`"))
            continue
        op_type = raw.get("type")
        if not op_type:
            issues.append(ConfigIssue(join_path(where, "type"), "missing required `type` field."))
            continue
        found = lookup(str(op_type))
        if found is None:
            issues.append(
                ConfigIssue(join_path(where, "type"), f'unsupported type "{op_type}"' + did_you_mean(str(op_type), known_types()))
            )
            continue
        model, _ = found
        try:
            configs.append((i, _validate_lenient(model, raw, where, ignored)))
        except ConfigError as exc:
            issues.extend(exc.issues)
    if ignored:
        if warnings is not None:
            warnings.extend(ignored)
        else:
            for issue in ignored:
                log.warning("%s", issue)
    if issues:
        raise ConfigError(issues)
    _dedupe_ids([cfg for _, cfg in configs])

    built: list[Operator] = []
    seen: dict[str, int] = {}
    for i, cfg in configs:
        where = join_path(path, i)
        _, builder = lookup(cfg.type)  # type: ignore[misc]
        try:
            op = builder(cfg)
        except BuildError as exc:
            issues.append(ConfigIssue(join_path(where, exc.key or ""), str(exc)))
            continue
        except (FieldError, ValueError, pydantic.ValidationError) as exc:
            issues.append(ConfigIssue(where, str(exc)))
            continue
        if op.id in seen:
            issues.append(ConfigIssue(join_path(where, "id"), f"operator with id '{op.id}' already exists in pipeline"))
            continue
        seen[op.id] = i
        built.append(op)
    if issues:
        raise ConfigError(issues)

    edges: dict[str, list[str]] = {}
    for n, op in enumerate(built):
        outs = list(op.output_ids())
        if not outs and op.accepts_default_output():
            outs = [built[n + 1].id] if n + 1 < len(built) else [SINK]
        for out_id in outs:
            if out_id != SINK and out_id not in seen:
                issues.append(
                    ConfigIssue(
                        join_path(path, seen[op.id], "output"),
                        f"operators cannot be connected, because the output does not exist in the pipeline: "
                        f"{op.id} -> {out_id}" + did_you_mean(out_id, seen),
                    )
                )
        # router-style operators emit to explicit ids only; others to their default list
        edges[op.id] = outs if op.accepts_default_output() else []
    if issues:
        raise ConfigError(issues)
    order = _topological(built, edges, path)
    return Pipeline(built, edges, order)


def _validate_lenient(model: Any, raw: dict[str, Any], where: str, ignored: list[ConfigIssue]) -> Any:
    """validate(), with unknown keys (at any depth) removed and noted instead of rejected."""
    data = copy.deepcopy(raw)
    for _ in range(16):
        try:
            return model.model_validate(data)
        except pydantic.ValidationError as exc:
            extras = [e["loc"] for e in exc.errors() if e["type"] == "extra_forbidden"]
            if not extras:
                break
            for loc in extras:
                parent: Any = data
                for part in loc[:-1]:
                    parent = parent[part] if isinstance(parent, (dict, list)) else None
                if isinstance(parent, dict) and loc[-1] in parent:
                    del parent[loc[-1]]
                    ignored.append(ConfigIssue(join_path(where, *loc), "unknown key ignored (as upstream's operator decoding does)"))
    return validate(model, data, where)


def _dedupe_ids(configs: list[Any]) -> None:
    """Upstream's rename of repeated default ids: the second `move` becomes `move1`, and so on."""
    counts: dict[str, int] = {}
    for cfg in configs:
        if cfg.id and cfg.id != cfg.type:
            continue
        n = counts.get(cfg.type, 0)
        if n == 0:
            counts[cfg.type] = 1
            continue
        new_id = f"{cfg.type}{n}"
        while any((c.id or c.type) == new_id for c in configs):
            n += 1
            new_id = f"{cfg.type}{n}"
        counts[cfg.type] = n + 1
        cfg.id = new_id


def _topological(ops: list[Operator], edges: dict[str, list[str]], path: str) -> list[str]:
    # children in order, visited last-first, so that reversed post-order runs an operator's first
    # output before its second (upstream writes to its outputs in order, depth first)
    graph = {
        op.id: [t for t in reversed(list(dict.fromkeys([*edges[op.id], *op.output_ids()]))) if t != SINK]
        for op in ops
    }
    state: dict[str, int] = {}
    order: list[str] = []

    def visit(node: str, stack: list[str]) -> None:
        mark = state.get(node, 0)
        if mark == 2:
            return
        if mark == 1:
            cycle = stack[stack.index(node):] + [node]
            raise ConfigError([ConfigIssue(path, "pipeline has a circular dependency: " + " -> ".join(cycle))])
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            visit(nxt, stack)
        stack.pop()
        state[node] = 2
        order.append(node)

    for op in ops:
        visit(op.id, [])
    order.reverse()
    return order
