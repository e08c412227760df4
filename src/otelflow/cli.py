"""``otelflow``: run a collector config, validate it, or list what this build has."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Sequence

from otelflow import __version__
from otelflow.config import ConfigError
from otelflow.config.errors import ConfigIssue
from otelflow.config import collector, loader
from otelflow.core import featuregates, logging_setup
from otelflow.core.component import Kind, Signal
from otelflow.core.registry import Registry, default_registry
from otelflow.core.service import DEFAULT_SHUTDOWN_TIMEOUT, Service, StartError
from otelflow.core.workers.context import WorkerContext, worker_count
from otelflow.core.workers.supervisor import exec_supervisor
from otelflow.defaults import DEFAULT_CONFIG

def _add_config_args(p: argparse.ArgumentParser, default=None) -> None:
    # A subcommand repeats these options without defaults, so it does not erase the top-level values.
    p.add_argument("--config", action="append", default=[] if default is None else default, metavar="URI",
                   help="config file (or file:PATH, env:VAR, yaml:KEY: VALUE); repeat to merge, later wins")
    p.add_argument("--set", action="append", default=[] if default is None else default, metavar="KEY=VALUE",
                   help='override one value, keys separated by "::" (e.g. exporters::otlp::endpoint=host:4317)')


def _add_gates_arg(p: argparse.ArgumentParser) -> None:
    # otelcol's --feature-gates is a flag of every command (`otelcol validate --feature-gates=...`).
    p.add_argument("--feature-gates", action="append", default=argparse.SUPPRESS, metavar="GATES",
                   help="comma-separated feature gates to turn on (+id or id) or off (-id), as otelcol's flag")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="otelflow", description="An OpenTelemetry Collector that runs otelcol-contrib configs.")
    p.add_argument("--version", action="version", version=f"otelflow {__version__}")
    _add_config_args(p)
    p.add_argument("--shutdown-timeout", type=float, default=DEFAULT_SHUTDOWN_TIMEOUT, metavar="SECONDS",
                   help="how long a shutdown may take to drain queues before it gives up")
    p.add_argument("--print-default-config", action="store_true", help="print the config used when none is given")
    p.add_argument("--feature-gates", action="append", default=[], metavar="GATES",
                   help="comma-separated feature gates to turn on (+id or id) or off (-id), as otelcol's flag")
    p.add_argument("--workers", type=int, metavar="N",
                   help="worker processes (default $OTELFLOW_WORKERS, else one per CPU this process may use); "
                        "1 runs everything in this process")
    p.add_argument("--data-dir", metavar="PATH",
                   help="where embedded_store extensions keep their database (default $OTELFLOW_DATA_DIR or ~/.local/share/otelflow)")
    sub = p.add_subparsers(dest="command")
    v = sub.add_parser("validate", help="check a config and list every problem; exit 1 if there is any")
    _add_config_args(v, default=argparse.SUPPRESS)
    _add_gates_arg(v)
    v.add_argument("--strict-upstream", action="store_true",
                   help="also fail on otelflow extensions that otelcol would reject or ignore")
    sub.add_parser("components", help="list the component types this build has, per kind and signal")
    d = sub.add_parser("doctor", help="find the mistakes in a config (--config) or in the traffic a running otelflow sees (--url)")
    _add_config_args(d, default=argparse.SUPPRESS)
    _add_gates_arg(d)
    d.add_argument("--url", metavar="URL", help="a running otelflow's web UI, e.g. http://127.0.0.1:4380")
    d.add_argument("--format", choices=["text", "json"], default="text", help="how findings are printed")
    s = sub.add_parser("sampling", help="tail-sampling tools")
    sampling = s.add_subparsers(dest="sampling_command", required=True)
    w = sampling.add_parser("what-if", help="replay stored traces through tail_sampling policies and report what they keep")
    w.add_argument("--policies", required=True, metavar="FILE",
                   help="YAML with a tail_sampling config (the processor's settings, or a whole collector config)")
    w.add_argument("--data-dir", dest="what_if_data_dir", metavar="PATH",
                   help="the embedded store's directory (default $OTELFLOW_DATA_DIR or ~/.local/share/otelflow)")
    w.add_argument("--since", default="1h", metavar="DURATION", help="how far back to replay, e.g. 15m, 1h, 7d")
    w.add_argument("--format", choices=["text", "json"], default="text", help="how the report is printed")
    return p


def _load(args: argparse.Namespace, registry: Registry) -> collector.CollectorConfig:
    return parse_tree(load_tree(args), registry)


def load_tree(args: argparse.Namespace) -> dict:
    """The merged, expanded config tree that ``--config``/``--set``/``--data-dir`` describe (shared with doctor)."""
    base = None if args.config else loader.parse_yaml(DEFAULT_CONFIG, "default config")
    tree = loader.load(args.config, args.set, base=base)
    data_dir = getattr(args, "data_dir", None)
    if data_dir:
        _set_data_dir(tree, data_dir)
    return tree


def parse_tree(tree: dict, registry: Registry) -> collector.CollectorConfig:
    """Validate a tree as ``run`` and ``validate`` do; ConfigError lists every problem."""
    issues = []
    try:
        cfg = collector.parse(tree, registry)
    except ConfigError as err:
        issues, cfg = err.issues, None
    service = tree.get("service") if isinstance(tree, dict) else None
    if isinstance(service, dict) and isinstance(service.get("telemetry"), dict):
        try:
            logging_setup.parse(service["telemetry"])
        except ConfigError as err:
            issues = [*issues, *err.issues]
    if issues or cfg is None:
        raise ConfigError(issues)
    return cfg


def _set_data_dir(tree: dict, data_dir: str) -> None:
    """Point every embedded_store extension at ``data_dir``; a config without one cannot use it."""
    extensions = tree.get("extensions") if isinstance(tree, dict) else None
    targets = [k for k in (extensions or {}) if str(k).split("/", 1)[0] == "embedded_store"]
    if not targets:
        raise ConfigError([ConfigIssue("--data-dir", "the config has no embedded_store extension to keep data in; "
                                                     "add one under extensions (see otelflow --print-default-config)")])
    for key in targets:
        if not isinstance(extensions[key], dict):
            extensions[key] = {}
        extensions[key]["directory"] = data_dir


def _print_errors(err: ConfigError, what: str = "invalid configuration") -> None:
    print(f"Error: {what} ({len(err.issues)} problem{'s' if len(err.issues) != 1 else ''}):", file=sys.stderr)
    for issue in err.issues:
        print(f"  {issue}", file=sys.stderr)


def cmd_validate(args: argparse.Namespace, registry: Registry) -> int:
    try:
        cfg = _load(args, registry)
    except ConfigError as err:
        _print_errors(err)
        return 1
    for warning in cfg.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    issues = collector.upstream_incompatibilities(cfg)
    if issues and getattr(args, "strict_upstream", False):
        _print_errors(ConfigError(issues), "not portable to otelcol")
        return 1
    for issue in issues:  # deliberate differences: valid here, but otelcol would reject or run it otherwise
        print(f"warning: differs from otelcol: {issue}", file=sys.stderr)
    print("configuration is valid")
    return 0


def cmd_components(registry: Registry) -> int:
    for kind in Kind:
        print(f"{kind.section}:")
        for type_ in registry.canonical_types(kind):  # aliases go under their type, not as types
            factory = registry.get(kind, type_)
            if kind is Kind.CONNECTOR:
                what = ", ".join(f"{a.value}->{b.value}" for a, b in sorted(factory.pairs))
            elif kind is Kind.EXTENSION:
                what = ""
            else:
                what = ", ".join(s.value for s in Signal if s in factory.signals)
            print(f"  - name: {type_}\n    stability: {factory.stability}" + (f"\n    signals: [{what}]" if what else ""))
            if aliases := registry.aliases(kind, type_):
                print(f"    deprecated_aliases: [{', '.join(aliases)}]")
    return 0


def cmd_run(args: argparse.Namespace, registry: Registry, argv: Sequence[str]) -> int:
    if hasattr(signal, "SIGHUP"):  # a reload asked for while starting must not kill the process
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the config is read after this point
    worker = WorkerContext.from_env()
    try:
        count = worker_count(args.workers)
    except ValueError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 1
    try:
        cfg = _load(args, registry)
    except ConfigError as err:
        _print_errors(err)
        return 1
    try:
        logging_setup.configure(logging_setup.parse(cfg.telemetry), logging_setup.resource_fields(cfg.telemetry))
    except logging_setup.SinkError as err:
        print(f"Error: failed to create logger: {err}", file=sys.stderr)
        return 1
    if worker is None and count > 1:  # the config is fine: this process becomes the workers' supervisor
        logging_setup.shutdown()
        exec_supervisor(count, argv, args.shutdown_timeout, logging_setup.instance_id())
    # SIGHUP reads the same sources again (files, --set, env) and swaps to the result if it is valid
    service = Service(cfg, registry, load_config=lambda: _load(args, registry),
                      on_reload=lambda new: logging_setup.reconfigure(new.telemetry), worker=worker)
    try:
        asyncio.run(service.run(args.shutdown_timeout))
    except StartError as err:
        print(f"Error: cannot start pipelines: {err}", file=sys.stderr)
        return 1
    except ConfigError as err:
        _print_errors(err)
        return 1
    finally:
        logging_setup.shutdown()
    return 0


def _import_components(registry: Registry) -> None:
    for kind in Kind:
        for type_ in registry.types(kind):
            registry.get(kind, type_)


def main(argv: Sequence[str] | None = None, registry: Registry = default_registry) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        if args.feature_gates:
            _import_components(registry)  # components register their own gates when imported
        for spec in args.feature_gates:
            featuregates.REGISTRY.apply(spec)
    except featuregates.GateError as err:
        print(f"Error: invalid value for --feature-gates: {err}", file=sys.stderr)
        return 1
    if args.print_default_config:
        print(DEFAULT_CONFIG, end="")
        return 0
    if args.command == "validate":
        return cmd_validate(args, registry)
    if args.command == "components":
        return cmd_components(registry)
    if args.command == "doctor":
        from otelflow.doctor.cli import main as doctor_main
        return doctor_main(args, registry)
    if args.command == "sampling":
        from otelflow.sampling.cli import main as sampling_main
        return sampling_main(args)
    return cmd_run(args, registry, argv)


if __name__ == "__main__":
    raise SystemExit(main())
