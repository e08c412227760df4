"""Operator base classes: config models shared by every operator, and the synchronous processing contract.

An operator turns one entry into zero or more *emissions* ``(target, entry)``: ``target`` None means
"the operator's configured outputs"; a string names one operator id (a router picks per route). The
pipeline delivers emissions, copying an entry when it fans out. Operators that hold entries
(recombine) return them later from ``flush(now_ns, force)``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, ClassVar, Literal

import pydantic
from pydantic import BeforeValidator

from otelflow.config.model import Model
from otelflow.stanza.entry import Entry

from typing import Annotated

log = logging.getLogger("otelflow.stanza")

Emit = tuple["str | None", Entry]

SEND, SEND_QUIET, DROP, DROP_QUIET = "send", "send_quiet", "drop", "drop_quiet"


def _outputs(value: Any) -> Any:
    """`output: a` and `output: a,b` decode to lists, as upstream's weakly typed decoding does."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in value.split(",")] if value else []
    return value


OutputList = Annotated[list[str], BeforeValidator(_outputs)]


class BuildError(ValueError):
    """A config that validates by shape but cannot be built; ``key`` narrows the YAML path."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class OperatorConfig(Model):
    """Keys every operator has (upstream's BasicConfig + WriterConfig)."""

    id: str = ""
    type: str
    output: OutputList = pydantic.Field(default_factory=list)


class TransformerConfig(OperatorConfig):
    """Keys of every operator that can fail on an entry or be skipped by `if`."""

    on_error: Literal["send", "send_quiet", "drop", "drop_quiet"] = SEND
    if_: str = pydantic.Field("", alias="if")

    model_config = pydantic.ConfigDict(populate_by_name=True)


def compile_condition(source: str) -> Callable[[Entry], Any]:
    """Compile an `if` expression with the expression language (imported lazily: it is optional here)."""
    try:
        from otelflow.stanza.expr import compile_expr  # type: ignore[import-not-found]
    except ImportError as exc:  # pragma: no cover - only while the expression module is missing
        raise BuildError(f"failed to compile expression '{source}': expressions are not available ({exc})", "if")
    try:
        return compile_expr(source)
    except Exception as exc:  # noqa: BLE001 - any compile failure is a config error
        raise BuildError(f"failed to compile expression '{source}': {exc}", "if") from None


class Operator:
    """Base: identity and outputs; subclasses implement ``process``."""

    type_name: ClassVar[str] = ""

    def __init__(self, cfg: OperatorConfig) -> None:
        self.id = cfg.id or cfg.type
        self.type = cfg.type
        self.outputs: list[str] = list(cfg.output)
        self.errors = 0
        self._last_log = 0.0
        self._unlogged = 0

    # --- graph ------------------------------------------------------------
    def output_ids(self) -> list[str]:
        """Every id this operator may emit to (a router overrides this with its routes)."""
        return self.outputs

    def accepts_default_output(self) -> bool:
        """Whether the pipeline may give this operator the next one as output (not a router)."""
        return True

    # --- processing -------------------------------------------------------
    def process(self, entry: Entry) -> list[Emit]:
        return [(None, entry)]

    def flush(self, now_ns: int, force: bool = False) -> list[Emit]:
        """Entries held back (recombine); ``force`` at shutdown empties every buffer."""
        return []

    def note_error(self, err: BaseException, quiet: bool) -> None:
        """Count an entry error; log at most every 10 s per operator (never per entry)."""
        self.errors += 1
        if quiet:
            return
        now = time.monotonic()
        self._unlogged += 1
        if now - self._last_log >= 10.0:
            log.error(
                "operator %s (%s): failed to process entry: %s (%d errors since last report)",
                self.id, self.type, err, self._unlogged,
            )
            self._last_log = now
            self._unlogged = 0


class Transformer(Operator):
    """An operator that changes an entry in place, with `on_error` and `if` (upstream's TransformerOperator)."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__(cfg)
        self.on_error = cfg.on_error
        self.condition = compile_condition(cfg.if_) if cfg.if_ else None

    def skip(self, entry: Entry) -> bool:
        """True when `if` is set and false for this entry; raises when the expression fails."""
        if self.condition is None:
            return False
        result = self.condition(entry)
        if not isinstance(result, bool):
            raise ValueError(f"running if expr: expected bool, but got {type(result).__name__}")
        return not result

    def transform(self, entry: Entry) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def process(self, entry: Entry) -> list[Emit]:
        try:
            if self.skip(entry):
                return [(None, entry)]
            self.transform(entry)
        except Exception as exc:  # noqa: BLE001 - bad input never kills the pipeline
            return self.handle_error(entry, exc)
        return [(None, entry)]

    def handle_error(self, entry: Entry, err: BaseException) -> list[Emit]:
        """Send the entry on or drop it, per `on_error`."""
        self.note_error(err, self.on_error in (SEND_QUIET, DROP_QUIET))
        if self.on_error in (SEND, SEND_QUIET):
            return [(None, entry)]
        return []
