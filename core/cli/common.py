"""What every command of the command line shares: the exit status and error type of an expected
failure, the errors printed as one line, JSON output, opening a project for writing, ``--set``."""

from __future__ import annotations

import json

EXIT_USAGE = 2


class CliError(Exception):
    """An error the user can act on; printed as one line."""


#: The failures a command reports as one line and exit status 2, as (module, class). A class is
#: looked up only when its module is already imported (an exception of it can only have been raised
#: then), so reporting them imports nothing: a prediction runs without PyTorch or h5py.
EXPECTED = (
    ("core.cli.common", "CliError"), ("core.imaging.errors", "ImageLoadError"), ("core.resources", "ModelFileError"),
    ("core.schema.elements", "SchemaError"), ("core.project.errors", "ProjectError"),
    ("core.training.datasets", "DatasetError"), ("core.devices", "DeviceError"), ("core.training.loop", "TrainingDiverged"),
)


def expected_errors() -> tuple[type[BaseException], ...]:
    """The expected failures whose modules are loaded now, and OSError, ValueError, KeyError."""
    import sys

    loaded = tuple(getattr(sys.modules[module], name) for module, name in EXPECTED if module in sys.modules)
    return (*loaded, OSError, ValueError, KeyError)


def run(args, expected: tuple[type[BaseException], ...] = ()) -> int:
    """Run a parsed command (``args.func``); an expected failure (``expected`` and
    :func:`expected_errors`, asked when it happens) prints one line and returns 2."""
    import sys

    try:
        return args.func(args)
    except Exception as exc:  # noqa: BLE001 - re-raised below unless expected
        if not isinstance(exc, (*expected, *expected_errors())):
            raise
        from core.messages import error_line

        print(f"anatomark: {error_line(exc)}", file=sys.stderr)
        return EXIT_USAGE


def print_json(obj: object) -> None:
    """One JSON document on one line (NaN refused: JSON has none), flushed for readers of a pipe."""
    print(json.dumps(obj, allow_nan=False), flush=True)


def open_project(path: str):
    """A project opened for writing; ProjectError (one line) when another Anatomark holds it."""
    from core.project import Project, ProjectError

    project = Project.open(path)
    if project.read_only:
        project.close()
        raise ProjectError(f"{path}: {project.read_only_reason}; close it there first")
    return project


def override(config, assignments: list[str], keys: set[str] | None = None):
    """Apply ``key=value`` overrides (numbers) to a dataclass (TrainConfig, RetrainSettings);
    ``outer.inner=value`` reaches a nested dataclass field (``augment.rotation_deg=5``); keys
    outside ``keys`` (default: every number field, nested ones included) are an error."""
    from dataclasses import fields, is_dataclass, replace

    def numbers(obj, prefix: str = "") -> set[str]:
        found = set()
        for f in fields(obj):
            value = getattr(obj, f.name)
            if is_dataclass(value):
                found |= numbers(value, f"{prefix}{f.name}.")
            elif isinstance(value, (int, float)) or value is None:
                found.add(prefix + f.name)
        return found

    def assign(obj, path: list[str], value: float):
        head, *rest = path
        if rest:
            return replace(obj, **{head: assign(getattr(obj, head), rest, value)})
        current = getattr(obj, head)
        whole = isinstance(current, int) or (current is None and value.is_integer())
        return replace(obj, **{head: int(value) if whole else value})

    known = keys or numbers(config)
    for item in assignments or []:
        key, _, value = item.partition("=")
        if key not in known or not value:
            raise CliError(f"--set {item!r}: expected KEY=NUMBER with KEY one of {', '.join(sorted(known))}")
        try:
            number = float(value)
        except ValueError as exc:
            raise CliError(f"--set {item!r}: {value!r} is not a number") from exc
        config = assign(config, key.split("."), number)
    return config
