"""Model versions of a project, in a folder beside it: ``<project>.models/vN/model.pt`` + ``model.json``.

``v0`` is the bundled model of the project's schema (when there is one); every
retraining run publishes the next ``vN``. A version is built in a hidden
temporary folder and renamed into place in one ``os.rename``, so a reader
never sees a half-written version; a crash leaves only a ``.tmp-*`` folder
(or a training run's ``.work-*`` scratch folder). Each scratch folder's name ends
in the id of the process that made it: the next run removes those of processes
that are gone, never another live run's (:meth:`ModelRegistry.remove_stale_scratch`).
Versions are never overwritten or deleted here.
The project file records which version is current (``Project.learning["current"]``).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from core.atomic import fsync_dir
from core.project.lock import pid_alive
from core.resources import ModelFileError, resolve_model

if TYPE_CHECKING:  # listing versions needs no torch (app.active_model asks at start-up); publishing does
    import torch

__all__ = ["BUNDLED", "ModelRegistry", "RegistryError", "registry_dir", "scratch_pid"]

BUNDLED = "v0"
_VERSION = re.compile(r"^v(\d+)$")
#: ``.tmp-<time>-<host>-<pid>`` (publishing) and ``.work-<time>-<host>-<pid>`` (training); older names
#: end in ``-<pid>`` alone (``.tmp-v3-1234``) or in nothing.
_SCRATCH = re.compile(r"^\.(?:tmp|work)-.*?(?:-(?:h([0-9a-f]{8})-)?(\d+))?$")


def host_tag() -> str:
    """Eight hex digits naming this machine: a project on a shared drive may be trained from several,
    and a process id means something only on the machine that gave it out."""
    import hashlib
    import socket

    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _owner_gone(name: str) -> bool:
    """True when the scratch folder ``name`` belongs to a process of this machine that no longer runs
    (another machine's, or one whose owner cannot be told, is never taken for gone)."""
    m = _SCRATCH.match(name)
    if m is None or m.group(2) is None:
        return False
    if m.group(1) is not None and m.group(1) != host_tag():
        return False
    pid = int(m.group(2))
    return pid != os.getpid() and not pid_alive(pid)
#: A scratch folder without a pid (written before names carried one) is stale after this long.
_STALE_SECONDS = 24 * 3600


def scratch_pid(name: str) -> int | None:
    """The process id at the end of a scratch folder's name; None for other names or older ones without."""
    m = _SCRATCH.match(name)
    return int(m.group(2)) if m is not None and m.group(2) is not None else None


def scratch_owner_gone(name: str) -> bool:
    """Public form of the ownership test (``core.learning.interrupted`` uses it)."""
    return _owner_gone(name)


class RegistryError(ValueError):
    """A version that does not exist or cannot be published; one human line."""


def registry_dir(project_path: str | os.PathLike[str]) -> Path:
    """``study.anatomark`` → ``study.anatomark.models``."""
    p = Path(os.path.abspath(os.fspath(project_path)))
    return p.with_name(p.name + ".models")


class ModelRegistry:
    """The versions of one project's models. ``schema``: the project's schema name (for ``v0``)."""

    def __init__(self, project_path: str | os.PathLike[str], schema: str) -> None:
        self.root = registry_dir(project_path)
        self.schema = schema

    def _bundled(self) -> Path | None:
        try:
            return resolve_model(self.schema)
        except ModelFileError:
            return None

    def versions(self) -> list[str]:
        """Published versions, oldest first (``v0`` first when a bundled model exists)."""
        found = []
        if self.root.is_dir():
            for entry in self.root.iterdir():
                m = _VERSION.match(entry.name)
                if m and (entry / "model.pt").exists() and (entry / "model.json").exists():
                    found.append(int(m.group(1)))
        names = [f"v{n}" for n in sorted(found)]
        return ([BUNDLED] if self._bundled() is not None else []) + names

    def path(self, version: str) -> Path:
        """The model file (``.pt``) of a version; RegistryError when there is none."""
        if version == BUNDLED:
            bundled = self._bundled()
            if bundled is None:
                raise RegistryError(f"no bundled model for schema {self.schema!r}: train --from scratch first")
            return bundled
        if not _VERSION.match(version or ""):
            raise RegistryError(f"{version!r} is not a version name (v0, v1, …)")
        pt = self.root / version / "model.pt"
        if not (pt.exists() and pt.with_suffix(".json").exists()):
            known = ", ".join(self.versions()) or "none"
            raise RegistryError(f"no model version {version} (versions: {known})")
        return pt

    def card(self, version: str) -> dict:
        from core.model_card import read_card

        return read_card(self.path(version))

    def trained_ids(self) -> set[str]:
        """Ids of the project images any version of this registry was trained on (from the cards)."""
        ids: set[str] = set()
        for version in self.versions():
            if version == BUNDLED:
                continue
            try:
                images = (self.card(version).get("training") or {}).get("images") or []
            except (ModelFileError, OSError, ValueError, AttributeError):
                continue  # an unreadable card trains nothing we can name
            ids.update(str(im["id"]) for im in images if isinstance(im, dict) and "id" in im)
        return ids

    def scratch_dir(self, kind: str) -> Path:
        """A new scratch folder name for this process (``kind``: ``work`` or ``tmp``), not yet created."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"{time.time_ns() % 1_000_000_000:09d}"
        return self.root / f".{kind}-{stamp}-h{host_tag()}-{os.getpid()}"

    @contextmanager
    def training_lock(self) -> Iterator[None]:
        """Held for a whole training run: a second run of the same project (another window, a
        command line, another machine on a shared drive) is refused with one line instead of racing
        this one to publish. The lock file holds ``<host tag> <pid>`` and is put in place whole
        (written aside, then hard-linked: it is never seen empty); a lock of a process of this
        machine that is gone is taken over, another machine's is always respected."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / ".training.lock"
        mine = f"{host_tag()} {os.getpid()}"
        for _ in range(5):
            aside = self.root / f".training.lock.{host_tag()}-{os.getpid()}-{time.time_ns()}"
            aside.write_text(mine, encoding="ascii")
            try:
                os.link(aside, path)  # atomic: fails when a lock is there
                break
            except FileExistsError:
                self._refuse_or_clear(path)
            finally:
                aside.unlink(missing_ok=True)
        else:
            raise RegistryError(f"{path.name}: could not take the training lock (the folder keeps changing)")
        try:
            yield
        finally:
            try:
                if path.read_text(encoding="ascii") == mine:  # never remove a lock another process took over
                    path.unlink()
            except OSError:
                pass

    def _refuse_or_clear(self, path: Path) -> None:
        """A lock is there: RegistryError when its holder may be alive; else remove it (taken over)."""
        try:
            text = path.read_text(encoding="ascii").split()
            age = time.time() - path.stat().st_mtime
        except (OSError, UnicodeDecodeError):
            return  # gone meanwhile: try again
        if len(text) == 2 and text[1].isdigit():
            host, pid = text[0], int(text[1])
        elif len(text) == 1 and text[0].isdigit():  # written before locks named their machine
            host, pid = host_tag(), int(text[0])
        else:
            host, pid = None, 0
        if host is None and age < 10:
            raise RegistryError("another training of this project is starting; wait for it or cancel it")
        if host is not None and host != host_tag():
            raise RegistryError("another training of this project is running on another computer; "
                                "wait for it to finish or cancel it there")
        if host is not None and pid != os.getpid() and pid_alive(pid):
            raise RegistryError(f"another training of this project is running (process {pid}); "
                                f"wait for it to finish or cancel it")
        path.unlink(missing_ok=True)  # a killed run's (or an unreadable old) lock: take it over

    def remove_stale_scratch(self) -> list[str]:
        """Remove the ``.tmp-*`` / ``.work-*`` folders of processes that are gone (a killed
        training or publish); another live process's folders stay. Returns the names removed."""
        removed = []
        if not self.root.is_dir():
            return removed
        for entry in self.root.iterdir():
            if _SCRATCH.match(entry.name) is None or not entry.is_dir():
                continue
            if scratch_pid(entry.name) is not None:
                stale = _owner_gone(entry.name)
            else:
                try:
                    stale = time.time() - entry.stat().st_mtime > _STALE_SECONDS
                except OSError:
                    continue
            if stale:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
        return removed

    def next_version(self) -> str:
        numbers = [int(v[1:]) for v in self.versions()]
        return f"v{max(numbers, default=0) + 1}"

    def import_model(self, name_or_path: str | os.PathLike[str]) -> str:
        """Make another model of this schema (a second bundled model, say) a version of the project.

        Published as a copy like any trained version, so choosing it, rolling it back and the
        re-prediction after adoption work as for those. A model imported before (same weights)
        gives its existing version instead of a duplicate.
        """
        from core.modelfile import combined_state_dict, load_model

        path = resolve_model(os.fspath(name_or_path))
        loaded = load_model(path)
        if loaded.schema.name != self.schema:
            raise RegistryError(f"{loaded.model_id} is a model for {loaded.schema.name!r}, not for this project's {self.schema!r}")
        sha = loaded.info.weights_sha256
        for version in self.versions():
            if version != BUNDLED and (self.card(version).get("imported_from") or {}).get("weights_sha256") == sha:
                return version
        card = {k: v for k, v in loaded.card.items() if k not in ("weights_sha256", "format_version")}
        card.update(imported_from={"model": loaded.model_id, "weights_sha256": sha}, parent_version=None)
        # The weights are copied byte for byte (not saved again): the version is provably the same model,
        # so it predicts under that model's id (LoadedModel.model_id) with its calibration.
        return self.publish(combined_state_dict(loaded.global_net, loaded.patch_net), card, weights_from=path)[0]

    def publish(self, state_dict: dict[str, torch.Tensor], card: dict,
                before_commit: Callable[[str, Path], None] | None = None,
                weights_from: Path | None = None) -> tuple[str, Path]:
        """Write a new version atomically; returns (version, model path). ``card['version']`` is set here.

        ``before_commit(version, tmp_model_path)`` runs on the complete but not
        yet visible model (to evaluate it and record metrics in its card); an
        exception there publishes nothing. ``weights_from``: copy that model
        file's weights byte for byte (checked against its card) instead of
        saving ``state_dict``.
        """
        from core.modelfile import republish, save_model

        self.root.mkdir(parents=True, exist_ok=True)
        self.remove_stale_scratch()  # a killed publish's folder; never another live process's
        for _ in range(5):  # another process may publish the same number at the same moment
            version = self.next_version()
            tmp = self.scratch_dir("tmp")  # unique (time to the ns): never a leftover of a reused pid
            try:
                tmp.mkdir()
            except FileExistsError:
                continue
            try:
                if weights_from is not None:
                    republish(weights_from, tmp / "model.pt", dict(card, version=version))
                else:
                    save_model(tmp / "model.pt", state_dict, dict(card, version=version))
                if before_commit is not None:
                    before_commit(version, tmp / "model.pt")
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            try:
                os.rename(tmp, self.root / version)  # fails when the target exists: never overwrites
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
                continue
            fsync_dir(self.root)
            return version, self.root / version / "model.pt"
        raise RegistryError(f"{self.root}: could not publish a new version (the folder keeps changing)")

