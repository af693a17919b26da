"""Developer sessions: tests, lint, typecheck, docs and bench."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole tree."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src/."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "src")


@nox.session
def docs(session: nox.Session) -> None:
    """Run every code example in docs/ and every script in examples/."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", "-q", "tests/test_docs.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks in benchmarks/ and print their figures."""
    session.install("-e", ".[dev,bench]")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Coverage-guided fuzzing (atheris) of every reader for a bounded time.

    ``nox -s fuzz`` runs each target for 60 seconds; ``nox -s fuzz -- 600`` for ten minutes
    each; ``nox -s fuzz -- 60 xlsx ctf`` only those targets. A crash (any exception that is not
    a SchoolsyncError) fails the session and leaves the input in the working directory.
    """
    session.install("-e", ".[dev]", "atheris")
    seconds = session.posargs[0] if session.posargs else "60"
    targets = session.posargs[1:] or ["xlsx", "csv", "bundle", "ctf", "gias"]
    for target in targets:
        session.run(
            "python",
            "fuzz/fuzz_readers.py",
            target,
            f"-max_total_time={seconds}",
            "-rss_limit_mb=1024",
            "-timeout=20",
        )
