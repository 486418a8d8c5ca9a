"""Adopting a version (never a worse one unless forced), restoring one, and re-predicting."""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.review.agreement import project_agreement
from core.learning.registry import BUNDLED, ModelRegistry, RegistryError
from core.learning.selection import is_reviewed, training_split
from core.learning.validation import evaluate_model
from core.learning.verdict import judge
from core.model_card import ModelCard
from core.project import Project

__all__ = ["AdoptionRefused", "adopt", "repredict", "version_rows"]


class AdoptionRefused(RegistryError):
    """The version is worse than the current one on the locked validation subset."""


def adopt(project: Project, version: str, force: bool = False, device: str = "cpu",
          predict: bool = True, progress: Callable[[int, int], None] | None = None) -> dict:
    """Make ``version`` the project's current model.

    Returns ``{version, previous, before_mre_px, after_mre_px, verdict, model_path,
    repredicted, agreement}``. Both models are measured on the locked validation
    subset now: a version with a higher MRE is refused (AdoptionRefused) unless
    ``force`` (that is how an earlier version is restored on purpose);
    ``verdict`` is ``verdict.judge`` of that comparison (None when not measured).
    On adoption the project records it and saves, and with ``predict`` every
    image is predicted again: unreviewed landmarks move to the new prediction,
    reviewed ones keep the user's point, and ``agreement``
    (``agreement.project_agreement``) says per image how far the new
    prediction lies from the user's points.
    """
    from core.learning.active import current_version

    registry = ModelRegistry(project.path, project.schema.name)
    path = registry.path(version)
    previous = current_version(project, registry)
    before = after = verdict = None
    if previous != version:
        _, val = training_split(project)
        names = project.schema.landmarks
        if val and previous is not None:
            before_summary = evaluate_model(registry.path(previous), val, names, device)
            after_summary = evaluate_model(path, val, names, device)
            verdict = judge(before_summary, after_summary).to_dict()
            before, after = before_summary["mre_px"], after_summary["mre_px"]
            if not force and not verdict["adoptable"]:
                raise AdoptionRefused(f"{version} is worse than the current {previous} on the locked validation "
                                      f"subset ({after:.2f} px vs {before:.2f} px MRE); not adopted "
                                      f"(use --force to restore it anyway)")
        elif not force:  # no locked subset yet: the run's own verdict against the same parent
            verdict = ModelCard.parse(registry.card(version), version).validation
            if verdict.get("before_version") == previous and verdict.get("adoptable") is False:
                raise AdoptionRefused(f"{version} was worse than {previous} when it was trained; not adopted "
                                      f"(use --force to adopt it anyway)")
    record = project.learning
    record["current"] = version
    project.set_learning(record, note=f"adopt {version} (was {previous}){' forced' if force else ''}")
    project.save()
    repredicted = repredict(project, all_images=True, device=device, progress=progress) if predict else 0
    return {"version": version, "previous": previous, "before_mre_px": before, "after_mre_px": after,
            "verdict": verdict, "model_path": str(path), "repredicted": repredicted,
            "agreement": project_agreement(project) if predict else []}


def repredict(project: Project, all_images: bool = False, device: str = "cpu",
              progress: Callable[[int, int], None] | None = None, cancel: threading.Event | None = None) -> int:
    """Predict unreviewed images (or all) with the current version and store the predictions; saves.

    ``Project.store_prediction`` never moves a corrected, verified or absent
    landmark, nor any landmark of a signed-off image; reviewed images only get
    the new prediction cached (the viewer shows its distance to the user's points).
    Returns the number of images predicted.
    """
    from core.inference import Predictor
    from core.learning.active import current_version

    registry = ModelRegistry(project.path, project.schema.name)
    version = current_version(project, registry)
    if version is None:
        raise RegistryError("the project has no model yet: train with --from scratch")
    predictor = Predictor(registry.path(version), device)
    todo = [im for im in project.images if all_images or not is_reviewed(im)]
    for i, image in enumerate(todo):
        if cancel is not None and cancel.is_set():
            break
        project.store_prediction(image.id, predictor.predict(image.path))
        if progress is not None:
            progress(i + 1, len(todo))
    if project.dirty:
        project.save()
    return len(todo)


def _installed_model(version: str, card: ModelCard) -> str | None:
    """``name@version`` of the installed model a version is (v0, or one imported with
    Model ▸ Use Bundled Model); None for a version trained in the project."""
    if version == BUNDLED:
        return f"{card.name}@{card.version}"
    return card.imported_from


def version_rows(project: Project) -> list[dict]:
    """The project's model versions, oldest first, as ``anatomark models --project P --json``
    lists them and the app's versions dialog shows them."""
    from core.learning.active import current_version

    registry = ModelRegistry(project.path, project.schema.name)
    current = current_version(project, registry)
    cards = {version: ModelCard.parse(registry.card(version), version) for version in registry.versions()}
    # Each run measures its parent ("before") and itself ("after") on the locked subset: every version,
    # v0 included, shows its newest such figure (later runs may have measured it on a grown subset).
    measured: dict[str, tuple[float, str]] = {}
    for version, card in cards.items():
        val = card.validation
        for who, summary in ((val.get("before_version"), val.get("before")), (version, val.get("after"))):
            mre = (summary or {}).get("mre_px") if isinstance(summary, dict) else None
            if isinstance(who, str) and isinstance(mre, (int, float)):
                measured[who] = (float(mre), version)
    rows = []
    for version, card in cards.items():
        val = card.validation
        mre, run = measured.get(version, (None, None))
        rows.append({"version": version, "current": version == current, "parent": card.parent_version,
                     "path": str(registry.path(version)), "date": card.date, "title": card.title,
                     "val_mre_px": mre, "val_measured_by": run, "adoptable": val.get("adoptable"),
                     "verdict": (val.get("verdict") or {}).get("text"),
                     "imported": _installed_model(version, card)})
    return rows
