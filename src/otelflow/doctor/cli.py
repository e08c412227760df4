"""``otelflow doctor``: lint a config (``--config``) or report what a running otelflow saw (``--url``)."""

from __future__ import annotations

import argparse
import os
import sys

from otelflow.config import ConfigError
from otelflow.core.registry import Registry
from otelflow.doctor.findings import has_errors, render_json, render_text
from otelflow.doctor.lint import invalid, lint_tree
from otelflow.doctor.locate import locate

USAGE = ("usage: otelflow doctor --config FILE [--config FILE ...] [--set KEY=VALUE] [--format text|json]\n"
         "       otelflow doctor --url http://127.0.0.1:4380 [--format text|json]")


def main(args: argparse.Namespace, registry: Registry) -> int:
    configs, url = list(getattr(args, "config", None) or []), getattr(args, "url", None)
    fmt = getattr(args, "format", "text") or "text"
    if configs and url:
        return _usage("give --config (lint a config) or --url (ask a running otelflow), not both")
    if url:
        return _live(url, fmt)
    if not configs:
        return _usage("nothing to examine: give --config FILE or --url URL")
    return _lint(args, registry, fmt)


def _lint(args: argparse.Namespace, registry: Registry, fmt: str) -> int:
    from otelflow import cli  # the loading `otelflow validate` and `run` use (imported here: cli imports us)

    try:
        findings = lint_tree(cli.load_tree(args), registry, cli.parse_tree)
    except ConfigError as err:  # unreadable file, bad YAML, bad --set or reference
        findings = invalid(err.issues)
    findings = locate(findings, args.config, getattr(args, "set", None) or [])
    _write(render_json(findings) + "\n" if fmt == "json" else render_text(findings))
    return 1 if has_errors(findings) else 0


def _write(text: str) -> None:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `otelflow doctor ... | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _live(url: str, fmt: str) -> int:
    try:
        from otelflow.doctor.live import report
    except ModuleNotFoundError as exc:
        if exc.name != "otelflow.doctor.live":
            raise
        print("Error: this build has no live doctor (otelflow.doctor.live)", file=sys.stderr)
        return 2
    text, code = report(url, fmt)
    print(text, end="" if text.endswith("\n") else "\n")
    return code


def _usage(message: str) -> int:
    print(f"Error: {message}\n{USAGE}", file=sys.stderr)
    return 2
