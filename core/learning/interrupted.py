"""A training run's scratch folder, and resuming a run that was killed.

Every project training run works in ``<project>.models/.work-<time>-<pid>/``: the stage
checkpoints (``global.pt`` and its ``.last`` resume state, then ``patch.pt``) and
``run.json``, which says what the run trains (parent version, settings, training image ids)
and which stages it has finished. A run that ends in any way it controls (published, cancelled,
diverged) removes the folder. A run that is killed (SIGKILL, a crash, a power cut) cannot, and
its folder, named after a process that is gone, is an *interrupted run*:

- ``anatomark train --project P --resume`` (and the app's offer on the next Train) claims the
  newest one by renaming it to its own pid and carries on from the last finished epoch of the
  stage it was in, with the interrupted run's settings;
- any other run removes the folders of dead processes first (``ModelRegistry.remove_stale_scratch``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.atomic import atomic_write_text
from core.learning.registry import ModelRegistry, RegistryError, scratch_owner_gone, scratch_pid

__all__ = ["RUN_FILE", "RunRecord", "finish_stage", "interrupted_run", "resume_run", "start_run"]

RUN_FILE = "run.json"


@dataclass
class RunRecord:
    """What a run trains; enough to carry on after a kill."""

    parent: str | None
    settings: dict
    train_ids: list[str]
    stages_done: list[str] = field(default_factory=list)
    started: str = ""

    def save(self, work: Path) -> None:
        atomic_write_text(work / RUN_FILE, json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, work: Path) -> RunRecord | None:
        """The folder's record; None when it has none or it cannot be read (such a folder is only removed)."""
        try:
            d = json.loads((work / RUN_FILE).read_text(encoding="utf-8"))
            record = cls(d["parent"], dict(d["settings"]), [str(i) for i in d["train_ids"]],
                         [str(s) for s in d.get("stages_done", [])], str(d.get("started", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if record.parent is not None and not isinstance(record.parent, str):
            return None
        return record


def _interrupted(registry: ModelRegistry) -> list[tuple[Path, RunRecord]]:
    """Work folders of processes that are gone and that say what they trained, newest first."""
    found = []
    if not registry.root.is_dir():
        return found
    for entry in registry.root.glob(".work-*"):
        if scratch_pid(entry.name) is None or not scratch_owner_gone(entry.name) or not entry.is_dir():
            continue  # a live run's, another machine's, or an old unnamed folder
        record = RunRecord.load(entry)
        if record is not None:
            found.append((entry, record))
    return sorted(found, key=lambda item: item[0].stat().st_mtime, reverse=True)


def interrupted_run(registry: ModelRegistry) -> RunRecord | None:
    """The newest interrupted run of the project (without claiming it), for the app to offer."""
    runs = _interrupted(registry)
    return runs[0][1] if runs else None


def resume_run(registry: ModelRegistry) -> tuple[Path, RunRecord]:
    """Claim the newest interrupted run: its folder renamed to this process (atomic, so two
    resuming processes cannot both take it). RegistryError when there is none."""
    for entry, record in _interrupted(registry):
        claimed = registry.scratch_dir("work")
        try:
            os.rename(entry, claimed)
        except OSError:
            continue  # another process claimed it first
        return claimed, record
    raise RegistryError("no interrupted training of this project to resume (a run that was cancelled or "
                        "finished leaves none); start a new one without --resume")


def start_run(registry: ModelRegistry, record: RunRecord) -> Path:
    """A new work folder for this process with ``record`` in it, after removing dead runs' folders."""
    registry.remove_stale_scratch()
    work = registry.scratch_dir("work")
    work.mkdir(parents=True, exist_ok=True)
    record.save(work)
    return work


def finish_stage(work: Path, record: RunRecord, stage: str) -> None:
    """Record that ``stage`` is trained (its best weights are in ``<stage>.pt``)."""
    if stage not in record.stages_done:
        record.stages_done.append(stage)
    record.save(work)
