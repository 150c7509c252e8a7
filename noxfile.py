"""Developer and CI sessions: tests (every installed Python 3.10-3.13), lint, typecheck, examples.

``nox -s tests lint typecheck`` is what CI runs (through ``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["tests", "lint", "typecheck", "examples"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
SUPPORTED = ["3.10", "3.11", "3.12", "3.13"]


def _works(executable: str | None) -> bool:
    if executable is None:
        return False
    return (
        subprocess.run([executable, "-c", "pass"], check=False, capture_output=True).returncode == 0
    )


def _find_pythons() -> list[str] | None:
    """Every supported interpreter on this machine, or None for nox's own Python.

    pyenv shims answer for versions that are installed but not selected, so a name on
    PATH is tried before it is trusted, and pyenv's version folders are put on PATH.
    """
    pyenv_versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = []
    for version in SUPPORTED:
        name = f"python{version}"
        if not _works(shutil.which(name)):
            for folder in sorted(pyenv_versions.glob(f"{version}.*/bin"), reverse=True):
                if _works(str(folder / name)):
                    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ['PATH']}"
                    break
        if _works(shutil.which(name)):
            found.append(version)
    return found or None


PYTHONS = _find_pythons()


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite against the installed package."""
    session.install(".", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole repository."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install(".", *nox.project.dependency_groups(PYPROJECT, "typing"))
    session.run("mypy", "--strict", "prefect_trio_client")


# Each example with the arguments that keep it small; nox runs them all.
EXAMPLES: list[list[str]] = [
    ["examples/retrying_client.py"],
    ["examples/retrying_client.py", "--backend", "asyncio"],
]


@nox.session
def examples(session: nox.Session) -> None:
    """Run every example program; any non-zero exit fails the session."""
    session.install(".")
    for argv in EXAMPLES:
        session.run("python", *argv)
