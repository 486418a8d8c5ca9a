"""The project store: one HDF5 file with a study's images, landmarks, cached predictions and history.

Usage::

    from core.project import Project, LandmarkState

    with Project.create("study.anatomark", "chest6") as project:
        image = project.add_image("JPCLN001.png")
        project.store_prediction(image.id, predictor.predict(image.path))
        project.set_point(image.id, "R_apex", 211.0, 180.5)     # CORRECTED, keeps the prediction as `original`
        project.set_state(image.id, "L_apex", LandmarkState.VERIFIED)
        project.save()                                          # atomic; call after edits (autosave)

    project = Project.open("study.anatomark")   # read-only, with lock_holder set, if another instance edits it

Modules, one concern each: ``records`` (the dataclasses), ``transitions``
(the rules for changing a landmark), ``project`` (the :class:`Project`),
``layout`` (the file format), ``packing`` (records ↔ column arrays),
``reader`` / ``writer`` (HDF5 I/O), ``predictions`` (the heatmap cache),
``corrections`` (the append-only log), ``lock`` (the ``.lock`` file),
``errors``. The format is described in ``docs/adr/0003-project-file-format.md``
and ``user_guide/project_file.md``. No Qt here.
"""

from core.project.errors import ProjectError
from core.project.layout import FORMAT_VERSION, PROJECT_SUFFIX
from core.project.project import Project, default_user
from core.project.records import ImageRecord, LandmarkRecord, LandmarkState

__all__ = [
    "FORMAT_VERSION",
    "PROJECT_SUFFIX",
    "ImageRecord",
    "LandmarkRecord",
    "LandmarkState",
    "Project",
    "ProjectError",
    "default_user",
]
