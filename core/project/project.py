"""The :class:`Project`: a crash-safe store of images, landmarks, predictions and their history.

A project is one HDF5 file (``layout``; ADR 0003) plus, while someone edits
it, a ``<project>.lock`` beside it (``lock``). Everything lives in memory
while the project is open except cached heatmaps, which are read on demand.
Edits are cheap in-memory changes that mark the project dirty and append to
the correction log; :meth:`Project.save` writes a complete new file next to
the old one and renames it over it, so a crash, a kill or a full disk at any
moment leaves the last saved version intact.

Not thread-safe: call it from one thread (the GUI thread; a save of a
300-image project takes tens of milliseconds).
"""

from __future__ import annotations

import getpass
import json
import os
import uuid
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import core
from core.atomic import atomic_write_bytes, temp_name_pattern
from core.project.corrections import CorrectionLog
from core.project.errors import ProjectError, describe_os_error, display_name
from core.project.files import absolute_path, sha256_file
from core.project.layout import StringTable
from core.project.lock import ProjectLock, describe_holder, lock_path, public_holder, read_lock, release_lock
from core.prediction import Prediction
from core.project.predictions import PredictionCache, PredictionEntry
from core.project.reader import read_prediction_arrays, read_project
from core.project.records import ImageRecord, LandmarkRecord, LandmarkState, utc_now
from core.project.transitions import corrected, predicted, with_state
from core.project.writer import Snapshot, build_project_file
from core.schema import LandmarkSchema, load_schema

if TYPE_CHECKING:  # core.imaging imports pydicom: only when needed
    from core.imaging import Radiograph

__all__ = ["Project", "default_user"]


def default_user() -> str:
    """The OS login name (``getpass.getuser``), or ``"unknown"`` where there is none."""
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # no USER/LOGNAME and no passwd entry (containers)
        return "unknown"


class Project:
    """An open project. Make one with :meth:`create` or :meth:`open`; use as a context manager.

    Attributes:
        path: absolute path of the project file.
        schema: the landmark schema every image is annotated with.
        user: the name written into sources (``user:<name>``) and the log.
        read_only: True when opened read-only (asked for, another instance
            holds the lock, or the folder is not writable); every change and
            :meth:`save` then raise :class:`ProjectError`.
        read_only_reason: why, in words (None when writable).
        lock_holder: who holds the lock when we could not take it
            (``user``, ``host``, ``pid``, ``since``), else None.
        stale_lock: the holder of a dead lock we took over at open (a crash
            of an earlier session), else None; also recorded in the log.
        dirty: changes since the last save.
    """

    def __init__(self, path: Path, schema: LandmarkSchema, user: str, *, lock: ProjectLock | None,
                 read_only_reason: str | None = None, lock_holder: dict | None = None) -> None:
        self.path = path
        self.schema = schema
        self.user = user
        self.read_only_reason = read_only_reason
        self.lock_holder = lock_holder
        self.stale_lock: dict | None = None
        self.dirty = False
        self._names = schema.landmarks
        self._index = {n: i for i, n in enumerate(self._names)}
        self._images: dict[str, ImageRecord] = {}
        self._strings = StringTable()
        self._log = CorrectionLog(self._strings, self._names)
        self._predictions = PredictionCache()
        self._attrs: dict = {}
        self._closed = False
        self._lock = lock
        self._release = (weakref.finalize(self, release_lock, lock.path, lock.info["token"])
                         if lock is not None else None)

    # ------------------------------------------------------------------ opening

    @classmethod
    def create(cls, path: str | os.PathLike[str], schema: LandmarkSchema | str, user: str | None = None,
               overwrite: bool = False) -> Project:
        """Make a new, empty project file at ``path`` (written at once) and open it for editing.

        ``schema`` is a :class:`LandmarkSchema` or a bundled schema name.
        ProjectError when the file exists (unless ``overwrite``), another
        instance holds its lock, or it cannot be written.
        """
        path = absolute_path(path)
        name = display_name(path)
        user = user or default_user()
        if isinstance(schema, str):
            schema = load_schema(schema)
        if path.is_dir():
            raise ProjectError(f"{name}: is a folder, not a project file")
        if path.exists() and not overwrite:
            raise ProjectError(f"{name}: already exists; open it, or choose another name")
        try:
            result = ProjectLock.acquire(path, user)
        except OSError as exc:
            raise ProjectError(f"{name}: cannot create the project here ({describe_os_error(exc)})") from exc
        if result.lock is None:
            raise ProjectError(f"{name}: open in another Anatomark ({describe_holder(result.holder or {})}); "
                               f"close it there first")
        project = cls(path, schema, user, lock=result.lock)
        project._attrs = {"project_id": uuid.uuid4().hex, "created": utc_now(), "revision": 0}
        project._note_stale_lock(result.stale)
        try:
            project.save()
        except BaseException:
            project.close()
            raise
        return project

    @classmethod
    def open(cls, path: str | os.PathLike[str], user: str | None = None, read_only: bool = False) -> Project:
        """Open a project file for editing, or read-only.

        Another live instance holding the lock makes this a read-only open
        with ``lock_holder`` set (no exception); a lock left by a process that
        no longer runs on this machine is taken over (``stale_lock``). A
        missing, foreign, damaged or newer-version file raises ProjectError.
        """
        path = absolute_path(path)
        user = user or default_user()
        if not path.exists():
            raise ProjectError(f"{display_name(path)}: project file not found")
        lock = None
        stale = None
        holder = None
        reason = None
        if read_only:
            holder, _ = read_lock(lock_path(path))
            holder = None if holder is None else public_holder(holder)
            reason = "opened read-only"
        else:
            try:
                result = ProjectLock.acquire(path, user)
            except OSError as exc:
                reason = f"cannot lock it for editing ({describe_os_error(exc)})"
            else:
                lock, stale = result.lock, result.stale
                holder = None if result.holder is None else public_holder(result.holder)
                if lock is None:
                    reason = f"{describe_holder(holder or {})} is editing it"
        try:
            contents = read_project(path)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        project = cls(path, contents.schema, user, lock=lock, read_only_reason=reason, lock_holder=holder)
        project._attrs = {k: contents.attrs[k] for k in ("project_id", "created", "revision")}
        if "learning" in contents.attrs:  # the learning loop's settings (core.learning); absent in older files
            project._attrs["learning"] = str(contents.attrs["learning"])
        project._strings = contents.strings
        project._log = CorrectionLog(contents.strings, contents.schema.landmarks, contents.log_rows)
        project._images = {im.id: im for im in contents.images}
        project._predictions = PredictionCache(contents.predictions)
        if lock is not None:
            project._remove_leftover_temp_files()
            project._note_stale_lock(stale)
        return project

    def _note_stale_lock(self, stale: dict | None) -> None:
        """Record a takeover in the log (saved with the next save; not itself a reason to save)."""
        if stale is None:
            return
        self.stale_lock = public_holder(stale)
        self._log.append(utc_now(), self.user, "lock_takeover", note=json.dumps(self.stale_lock))

    def _remove_leftover_temp_files(self) -> None:
        """Temp files of saves that were killed mid-write; safe to delete while we hold the lock."""
        for leftover in self.path.parent.glob(temp_name_pattern(self.path)):
            try:
                leftover.unlink()
            except OSError:
                pass

    # ------------------------------------------------------------------ reading

    @property
    def read_only(self) -> bool:
        return self._closed or self._lock is None

    @property
    def images(self) -> list[ImageRecord]:
        """Every image, in the order they were added."""
        return list(self._images.values())

    def image(self, image_id: str) -> ImageRecord:
        """The image with this id; KeyError when the project has none."""
        try:
            return self._images[image_id]
        except KeyError:
            raise KeyError(f"no image {image_id!r} in project {display_name(self.path)}") from None

    def prediction(self, image_id: str, heatmaps: bool = True) -> Prediction | None:
        """The image's cached :class:`~core.prediction.Prediction`, stored whole (regions, decoder,
        anatomy fit), or None. Heatmaps and masks are read from the file on first use; with
        ``heatmaps`` False they are None and nothing is read (points, confidences, regions only).
        Its arrays are read-only views of the cache: copy before changing."""
        self.image(image_id)
        return self._predictions.get(
            image_id, lambda i: read_prediction_arrays(self.path, i, self._attrs["project_id"]), heatmaps)

    def prediction_covariance(self, image_id: str) -> np.ndarray | None:
        """(K, 2, 2) image px² covariance of each heatmap of an image's cached prediction, or None.

        Kept with the prediction's small arrays, so views that rank images by heatmap spread
        (the review queue) read no heatmaps or masks when a project opens.
        """
        self.image(image_id)
        return self._predictions.covariance(
            image_id, lambda i: read_prediction_arrays(self.path, i, self._attrs["project_id"]))

    def prediction_stamp(self, image_id: str) -> tuple[str, str] | None:
        """``(model_id, created)`` of an image's cached prediction, or None; reads no heatmaps.

        Lets views that derive values from predictions (the review queue) tell a new
        prediction from one they have seen without loading every image's heatmaps.
        """
        entry = self._predictions.entries.get(image_id)
        return None if entry is None else (entry.summary.model_id, entry.summary.created)

    @property
    def learning(self) -> dict:
        """The learning loop's record (``core.learning``): locked validation ids, current model version.

        A copy; change it with :meth:`set_learning`. Stored as the JSON file
        attribute ``learning``; ``{}`` in projects that never trained.
        """
        try:
            record = json.loads(self._attrs.get("learning") or "{}")
        except ValueError:  # damaged attribute: start afresh rather than refuse the project
            return {}
        return record if isinstance(record, dict) else {}

    def set_learning(self, record: dict, note: str | None = None) -> None:
        """Replace the learning record (saved with the next :meth:`save`); logged as ``learning``."""
        self._check_writable()
        self._attrs["learning"] = json.dumps(record, sort_keys=True)
        self._log.append(utc_now(), self.user, "learning", note=note)
        self.dirty = True

    def log(self, image_id: str | None = None) -> list[dict]:
        """The correction log, oldest first (optionally one image's rows); see ``CorrectionLog.entries``."""
        return self._log.entries(image_id)

    # ------------------------------------------------------------------ changing

    def _check_writable(self) -> None:
        if self._closed:
            raise ProjectError("project is read-only: it has been closed")
        if self._lock is None:
            raise ProjectError(f"project is read-only: {self.read_only_reason}")

    def _landmark(self, image_id: str, name: str) -> ImageRecord:
        image = self.image(image_id)
        if name not in image.landmarks:
            raise KeyError(f"schema {self.schema.name!r} has no landmark {name!r}")
        return image

    def _replace(self, image: ImageRecord, name: str, new: LandmarkRecord, action: str, now: str) -> LandmarkRecord:
        old = image.landmarks[name]
        image.landmarks[name] = new
        self._log.append(now, self.user, action, image.id, self._index[name], old, new)
        self.dirty = True
        return new

    def add_image(self, path: str | os.PathLike[str], radiograph: Radiograph | None = None,
                  source: str | None = None) -> ImageRecord:
        """Add an image file (all landmarks MISSING); the same content again returns the existing record.

        Size and spacing come from ``core.imaging.load_image`` (or from
        ``radiograph`` when the caller has already loaded the file). An
        unreadable file raises ``ImageLoadError``. ``source``: where the file came from when
        that is not the file itself (a PACS address, ``dicomweb:<root>/studies/…``, never with
        credentials), kept as the note of the ``add_image`` history row (:meth:`image_source`).
        """
        from core.imaging import ImageLoadError, load_image  # pydicom: ~0.5 s to import, only needed here

        self._check_writable()
        p = absolute_path(path)
        try:
            sha = sha256_file(p)
        except OSError as exc:
            load_image(p)  # raises ImageLoadError naming the reason (missing, folder, permission)
            raise ImageLoadError(p, f"cannot read file ({describe_os_error(exc)})") from exc
        image_id = sha[:16]
        existing = self._images.get(image_id)
        if existing is not None:
            if existing.sha256 != sha:
                raise ProjectError(f"{p.name}: its content id {image_id} collides with another image's")
            return existing
        radiograph = radiograph if radiograph is not None else load_image(p)
        now = utc_now()
        record = ImageRecord(id=image_id, path=str(p), sha256=sha, size=radiograph.shape,
                             spacing=radiograph.spacing,
                             landmarks={n: LandmarkRecord.missing(now) for n in self._names})
        self._images[image_id] = record
        self._log.append(now, self.user, "add_image", image_id, note=source)
        self.dirty = True
        return record

    def remove_image(self, image_id: str) -> ImageRecord:
        """Remove an image with its landmarks and cached prediction; returns the removed record."""
        self._check_writable()
        record = self.image(image_id)
        del self._images[image_id]
        self._predictions.remove(image_id)
        self._log.append(utc_now(), self.user, "remove_image", image_id)
        self.dirty = True
        return record

    def set_point(self, image_id: str, name: str, x: float, y: float) -> LandmarkRecord:
        """A person's correction: the landmark goes to (x, y), CORRECTED, source ``user:<user>``.

        ``original`` keeps the model position it replaced (and keeps it
        through further drags). ValueError for a non-finite position.
        """
        self._check_writable()
        image = self._landmark(image_id, name)
        now = utc_now()
        return self._replace(image, name, corrected(image.landmarks[name], x, y, self.user, now), "set_point", now)

    def set_state(self, image_id: str, name: str, state: LandmarkState | str) -> LandmarkRecord:
        """Accept (→ VERIFIED, position kept), mark ABSENT, clear to MISSING, or take back a verification.

        The rules are ``transitions.with_state``; an impossible change (verify
        a missing landmark) is a ValueError. Setting the current state again
        changes nothing and logs nothing.
        """
        self._check_writable()
        image = self._landmark(image_id, name)
        now = utc_now()
        new = with_state(image.landmarks[name], state, self.user, now)
        if new is None:
            return image.landmarks[name]
        return self._replace(image, name, new, "set_state", now)

    def restore(self, image_id: str, name: str, record: LandmarkRecord, action: str = "undo") -> LandmarkRecord:
        """Put back an exact earlier record (undo/redo); logged as ``action``."""
        self._check_writable()
        if not isinstance(record, LandmarkRecord):
            raise TypeError(f"restore needs a LandmarkRecord, got {type(record).__name__}")
        image = self._landmark(image_id, name)
        if image.landmarks[name] == record:
            return record
        return self._replace(image, name, record, action, utc_now())

    def set_spacing(self, image_id: str, spacing: tuple[float, float] | None, note: str) -> ImageRecord:
        """Set an image's pixel spacing ((x, y) mm per pixel, or None: unknown), e.g. from a calibration
        against a ruler; the history row (action ``spacing``) keeps who, when and ``note`` (how it was
        measured, and the spacing before) as its provenance. ValueError for a spacing that is not two
        positive finite numbers (``core.imaging.radiograph.check_spacing``)."""
        from core.imaging.radiograph import check_spacing

        self._check_writable()
        image = self.image(image_id)
        spacing = check_spacing(spacing)
        if image.spacing == spacing:
            return image
        before = "unknown" if image.spacing is None else f"{image.spacing[0]:.6g} × {image.spacing[1]:.6g} mm/px"
        image.spacing = spacing
        self._log.append(utc_now(), self.user, "spacing", image_id, note=f"{note} (was {before})")
        self.dirty = True
        return image

    def image_source(self, image_id: str) -> str | None:
        """Where an image was fetched from (``dicomweb:…``), or None for a file added from disk."""
        rows = [row for row in self.log(image_id) if row.get("action") == "add_image" and row.get("note")]
        return str(rows[0]["note"]) if rows else None

    def spacing_source(self, image_id: str) -> dict | None:
        """The newest history row that set the image's spacing (``user``, ``time``, ``note``), or None
        when the spacing is the file's own (or a data set's, taken when the image was added)."""
        rows = [row for row in self.log(image_id) if row.get("action") == "spacing"]
        return rows[-1] if rows else None

    def set_verified(self, image_id: str, verified: bool, by: str | None = None) -> ImageRecord:
        """Sign an image off (or take that back). ``by`` defaults to the project's user; undo passes the earlier signer."""
        self._check_writable()
        image = self.image(image_id)
        verified = bool(verified)
        signer = (by or self.user) if verified else None
        if image.verified == verified and image.verified_by == signer:
            return image
        image.verified = verified
        image.verified_by = signer
        self._log.append(utc_now(), self.user, "verify_image" if verified else "unverify_image", image_id,
                         note=signer)
        self.dirty = True
        return image

    def store_prediction(self, image_id: str, prediction: Prediction) -> list[str]:
        """Cache a model's output for an image and let it fill in unreviewed landmarks.

        Only MISSING and PREDICTED landmarks take the new position (PREDICTED,
        source ``model:<model_id>``, with its confidence); CORRECTED, VERIFIED
        and ABSENT ones are never touched, and neither is any landmark of an
        image already signed off. Returns the names of the landmarks updated.
        ProjectError when the prediction is for another schema or image size.
        """
        self._check_writable()
        image = self.image(image_id)
        model_id = str(prediction.model_id)
        if tuple(prediction.landmarks) != self._names:
            raise ProjectError(f"model {model_id} predicts the landmarks of schema {prediction.schema!r}, "
                               f"not those of this project's schema {self.schema.name!r}")
        if tuple(int(v) for v in prediction.image_size) != tuple(image.size):
            raise ProjectError(f"the prediction is for a {prediction.image_size[0]}×{prediction.image_size[1]} "
                               f"image, but image {image_id} is {image.size[0]}×{image.size[1]}")
        now = utc_now()
        try:
            entry = PredictionEntry.from_prediction(prediction, now, len(self._names), image.spacing)
        except ValueError as exc:
            raise ProjectError(f"cannot store the prediction of model {model_id}: {exc}") from exc
        self._predictions.put(image_id, entry)
        self._log.append(now, self.user, "store_prediction", image_id, note=model_id)
        self.dirty = True
        if image.verified:
            return []
        updated = []
        points, confidence = entry.summary.points, entry.summary.confidence
        for k, name in enumerate(self._names):
            new = predicted(image.landmarks[name], points[k, 0], points[k, 1], model_id, confidence[k], now)
            if new is not None:
                self._replace(image, name, new, "predict", now)
                updated.append(name)
        return updated

    # ------------------------------------------------------------------ saving

    def save(self) -> None:
        """Write the whole project atomically: temp file, fsync, rename over the old one, fsync the folder.

        ProjectError when read-only, or when writing fails (disk full,
        read-only disk, permission): the file on disk is then unchanged and
        the project stays dirty, so a later save can succeed.
        """
        self._check_writable()
        revision = int(self._attrs["revision"])
        attrs = {**self._attrs, "revision": revision + 1, "saved": utc_now(), "saved_by": self.user,
                 "app_version": core.__version__, "schema_name": self.schema.name}
        snap = Snapshot(
            attrs=attrs, schema_json=json.dumps(self.schema.to_dict()), names=self._names, images=self.images,
            strings=self._strings, log_rows=self._log.rows(), predictions=self._predictions.entries,
            source=self.path, source_revision=revision,
        )
        try:
            image, written = build_project_file(snap)
            atomic_write_bytes(self.path, image)
        except Exception as exc:
            raise ProjectError(f"{display_name(self.path)}: could not save ({describe_os_error(exc)}); "
                               f"the file on disk is unchanged") from exc
        self._attrs["revision"] = revision + 1
        self._log.mark_saved(snap.log_rows)
        self._predictions.saved(written)
        self.dirty = False

    def close(self) -> None:
        """Release the lock (if held). Does not save: check :attr:`dirty` first."""
        if self._closed:
            return
        self._closed = True
        if self._release is not None:
            self._release()
        self._lock = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "closed" if self._closed else "read-only" if self.read_only else "dirty" if self.dirty else "saved"
        return f"<Project {display_name(self.path)} {self.schema.name} {len(self._images)} images, {mode}>"
