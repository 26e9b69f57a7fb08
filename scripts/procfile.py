"""The commands of the `Procfile` (what `make run` starts with honcho), for the benchmarks
and tests that start the same processes: one definition of how each is run."""

import os
import re
import shlex
from pathlib import Path

PROCFILE = Path(__file__).resolve().parent.parent / "Procfile"


def names() -> list[str]:
    return [line.split(":", 1)[0] for line in _lines()]


def command(name: str, env: dict | None = None) -> list[str]:
    """The argv of process `name`, `${VAR:-default}` expanded from `env` (default: ours)."""
    env = os.environ if env is None else env
    for line in _lines():
        process, _, text = line.partition(":")
        if process.strip() == name:
            expanded = re.sub(
                r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: env.get(m[1]) or m[2] or "", text
            )
            return shlex.split(expanded)
    raise KeyError(f"no process {name!r} in {PROCFILE}")


def _lines() -> list[str]:
    text = PROCFILE.read_text()
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
