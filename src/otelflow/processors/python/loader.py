"""Finding and importing a plugin: by module name (``sys.path``) or by file path.

The loader compiles the module's source itself (no ``.pyc``: an edit within the same second and of
the same size is still seen) and remembers one module per (file, source hash). The config keeps
that hash, so a SIGHUP after the file changed is a changed config even when the YAML is not, and
the new generation of components gets a freshly executed module while the old one drains with the
code it started with. Only the plugin's own file is watched, not what it imports.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from otelflow.config.errors import did_you_mean

METHODS = ("process_traces", "process_metrics", "process_logs")


class LoadError(ValueError):
    """The plugin cannot be found or imported, or its class is not usable (a config error)."""


@dataclass(frozen=True)
class Source:
    """Where a plugin's code is and what it holds now."""

    name: str  # the module name it is imported under
    path: str  # its file ("" for a module that has no Python source, e.g. an extension module)
    sha256: str  # of the file's bytes ("" without a file)


_lock = threading.Lock()  # config validation imports in a reload thread, graph building on the loop
_modules: dict[str, tuple[str, ModuleType]] = {}  # path (or name) -> (sha256, module)


def locate(module: str = "", file: str = "") -> Source:
    """The plugin's file and the hash of its bytes, without running it."""
    if file:
        path = Path(file).expanduser().resolve()
        if not path.is_file():
            relative = "" if Path(file).expanduser().is_absolute() else " (a relative path is taken from the working directory)"
            raise LoadError(f"file {str(path)!r} does not exist{relative}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return Source(f"_otelflow_plugin_{_ident(path.stem)}_{digest_of(str(path))[:10]}", str(path), digest)
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:  # a parent package that is missing or fails
        raise LoadError(f"cannot find module {module!r}: {_describe(exc)}") from None
    if spec is None:
        raise LoadError(f"module {module!r} is not on the Python path (sys.path; set PYTHONPATH or install it)")
    origin = spec.origin or ""
    if not origin.endswith(".py") or not Path(origin).is_file():
        return Source(module, "", "")
    return Source(module, origin, hashlib.sha256(Path(origin).read_bytes()).hexdigest())


def load(source: Source) -> ModuleType:
    """The module for ``source``, executed once per content (a new hash executes it again)."""
    key = source.path or source.name
    with _lock:
        cached = _modules.get(key)
        if cached is not None and cached[0] == source.sha256:
            return cached[1]
        module = _execute(source)
        _modules[key] = (source.sha256, module)
        return module


def _execute(source: Source) -> ModuleType:
    if not source.path:  # no source to compile: an ordinary import, never reloaded
        try:
            return importlib.import_module(source.name)
        except BaseException as exc:  # noqa: BLE001 - anything the module raises is the user's error
            raise LoadError(f"cannot import {source.name}: {_describe(exc)}") from None
    spec = importlib.util.spec_from_file_location(source.name, source.path)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(source.name)
    sys.modules[source.name] = module  # dataclasses, pickle and self-imports look it up there
    try:
        code = compile(Path(source.path).read_bytes(), source.path, "exec", dont_inherit=True)
        exec(code, module.__dict__)  # noqa: S102 - running the configured plugin is the point
    except BaseException as exc:  # noqa: BLE001 - SyntaxError, ImportError, SystemExit...: a config error
        if previous is None:
            sys.modules.pop(source.name, None)
        else:
            sys.modules[source.name] = previous
        raise LoadError(f"cannot import {source.path}: {_describe(exc, source.path)}") from None
    return module


def plugin_class(module: ModuleType, source: Source, name: str) -> type:
    """The configured class of ``module``, which must define at least one ``process_*`` method."""
    where = source.path or source.name
    cls = getattr(module, name, None)
    if cls is None:
        classes = [k for k, v in vars(module).items() if isinstance(v, type) and not k.startswith("_")]
        raise LoadError(f"{where} has no class {name!r}{did_you_mean(name, classes)}")
    if not isinstance(cls, type):
        raise LoadError(f"{name!r} in {where} is a {type(cls).__name__}, not a class")
    if not any(callable(getattr(cls, m, None)) for m in METHODS):
        raise LoadError(f"class {name} in {where} defines none of {', '.join(m + '(batch)' for m in METHODS)}")
    return cls


def _describe(exc: BaseException, path: str = "") -> str:
    """``file:line: Type: message``, the line being the deepest frame in the plugin's own file."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}: {type(exc).__name__}: {exc.msg}"
    return f"{where_raised(exc, path)}{type(exc).__name__}: {exc}"


def where_raised(exc: BaseException, path: str = "") -> str:
    """``file:line: `` of the innermost frame in ``path`` (else the innermost frame), or ""."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if f.filename == path] if path else []
    frame = (own or frames or [None])[-1]
    return f"{frame.filename}:{frame.lineno}: " if frame is not None else ""


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _ident(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)
