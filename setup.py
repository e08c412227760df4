"""Builds the one native helper (otelflow.native._wire) and, when they are missing, the web UI's
static files (scripts/build-ui.sh), so wheels and sdists ship them; everything else is in pyproject.toml."""

import subprocess
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

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


setup(
    cmdclass={"build_py": BuildPyWithUI, "sdist": SdistWithUI},
    ext_modules=[
        Extension("otelflow.native._wire", ["src/otelflow/native/_wire.c"], extra_compile_args=["-O2"], optional=True),
        Extension("otelflow.native._spancols", ["src/otelflow/native/_spancols.c"], extra_compile_args=["-O2"], optional=True),
    ],
)
