"""Builds the native helpers (the C extensions otelflow.native._wire, _route, _spancols, _counts and _attrs, and the Rust
extension otelflow.native._ottl from native/ottl/ when cargo is there) and, when they are missing,
the web UI's static files (scripts/build-ui.sh), so wheels and sdists ship them; everything else is
in pyproject.toml. Every native part is optional: without a compiler the pure-Python paths run."""

import subprocess
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

try:  # a build requirement (pyproject.toml); absent only when setup.py is run by hand without it
    from setuptools_rust import Binding, RustExtension
except ImportError:  # pragma: no cover
    RustExtension = None

ROOT = Path(__file__).resolve().parent
UI_BUILT = ROOT / "src" / "otelflow" / "ui" / "static" / "assets" / "app.js"


def build_ui() -> None:
    if not UI_BUILT.exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "build-ui.sh")], check=True)


class BuildPyWithUI(build_py):
    def run(self):
        build_ui()
        self.__dict__.pop("data_files", None)  # listed lazily: list again now that the files exist
        super().run()


class SdistWithUI(sdist):
    def run(self):
        build_ui()
        super().run()


# The OTTL fast path for traces (native/ottl, PyO3): optional, skipped when cargo is missing.
RUST_EXTENSIONS = [] if RustExtension is None else [
    RustExtension("otelflow.native._ottl", "native/ottl/Cargo.toml", optional=True, binding=Binding.PyO3, debug=False,
                  py_limited_api=True),
]

setup(
    cmdclass={"build_py": BuildPyWithUI, "sdist": SdistWithUI},
    rust_extensions=RUST_EXTENSIONS,
    ext_modules=[
        Extension("otelflow.native._wire", ["src/otelflow/native/_wire.c"], depends=["src/otelflow/native/_varint.h"],
                  extra_compile_args=["-O2"], optional=True),
        Extension("otelflow.native._route", ["src/otelflow/native/_route.c"], depends=["src/otelflow/native/_varint.h"],
                  extra_compile_args=["-O2"], optional=True),
        Extension("otelflow.native._spancols", ["src/otelflow/native/_spancols.c"], extra_compile_args=["-O2"], optional=True),
        Extension("otelflow.native._counts", ["src/otelflow/native/_counts.c"], depends=["src/otelflow/native/_varint.h"],
                  extra_compile_args=["-O2"], optional=True),
        Extension("otelflow.native._attrs", ["src/otelflow/native/_attrs.c"], depends=["src/otelflow/native/_varint.h"],
                  extra_compile_args=["-O2"], optional=True),
    ],
)
