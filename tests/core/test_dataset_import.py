"""A data set folder in an exchange format becomes a project (issue 19 item 5): the round trip
export → folder with the images → new project → export gives the same file, for every format."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.cli import main
from core.exchange import export_project
from core.exchange.common import ExchangeError
from core.exchange.dataset import import_dataset
from core.project import Project

FORMATS = ("csv", "coco", "labelme", "isbi")


@pytest.fixture
def ceph_images(shared_data) -> list[Path]:
    paths = [shared_data / "ceph_isbi2015" / "images" / f"{n}.jpg" for n in (151, 152, 153)]
    if not all(p.is_file() for p in paths):
        pytest.skip("shared data cephalograms 151-153 missing")
    return paths


def _source_project(path: Path, images: list[Path], absent: bool = True) -> Project:
    project = Project.create(path, "ceph19", user="alice")
    names = project.schema.landmarks
    for i, image_path in enumerate(images):
        image = project.add_image(image_path)
        for k, name in enumerate(names):
            project.set_point(image.id, name, 100.0 + 20 * k + i, 200.0 + 10 * k + 0.25 * i)
        if absent:  # ISBI's format cannot say "absent"
            project.set_state(image.id, names[-1], "absent")
    project.save()
    return project


def _export(project: Project, fmt: str, out: Path) -> Path:
    target = out / ("landmarks.csv" if fmt == "csv" else "coco.json" if fmt == "coco" else "ann")
    export_project(project, fmt, target)
    return target


def _dataset_folder(project: Project, exported: Path, folder: Path) -> None:
    """What a user hands over: the annotations with the images beside them, named as the export names them."""
    folder.mkdir()
    if exported.is_dir():
        for f in exported.iterdir():
            shutil.copy(f, folder / f.name)
    else:
        shutil.copy(exported, folder / exported.name)
    images = folder / "images"
    images.mkdir()
    for image in project.images:
        shutil.copy(image.path, images / f"{image.id}{Path(image.path).suffix}")


def _text(exported: Path) -> str:
    files = sorted(exported.iterdir()) if exported.is_dir() else [exported]
    return "\n".join(f.name + ":" + f.read_text() for f in files)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_through_a_dataset_folder(tmp_path, ceph_images, fmt, capsys):
    source = _source_project(tmp_path / "a.anatomark", ceph_images, absent=fmt != "isbi")
    first = _export(source, fmt, tmp_path / "first")
    folder = tmp_path / "dataset"
    _dataset_folder(source, first, folder)
    source.close()
    target = tmp_path / "b.anatomark"
    assert main(["project", "new", str(target), "--schema", "ceph19"]) == 0
    assert main(["project", "import", str(target), "--dataset", str(folder), "--format", fmt, "--keep-states"]) == 0
    assert "3 image(s) added" in capsys.readouterr().out
    with Project.open(target) as imported:
        assert len(imported.images) == 3
        second = _export(imported, fmt, tmp_path / "second")
        if fmt == "csv":  # the provenance column says where each point came from: an import now
            strip = lambda text: [line.rsplit(",", 19)[0] for line in text.splitlines()]  # noqa: E731
            assert strip(_text(second)) == strip(_text(first))
        else:
            assert _text(second) == _text(first)


def test_an_image_missing_from_the_folder_adds_nothing(tmp_path, ceph_images):
    source = _source_project(tmp_path / "a.anatomark", ceph_images)
    first = _export(source, "labelme", tmp_path / "first")
    folder = tmp_path / "dataset"
    _dataset_folder(source, first, folder)
    next((folder / "images").iterdir()).unlink()
    source.close()
    with Project.create(tmp_path / "b.anatomark", "ceph19") as target:
        with pytest.raises(ExchangeError, match="1 image\\(s\\) named by .* are not in the folder"):
            import_dataset(target, folder, "labelme")
        assert target.images == [] or len(target.images) == 0


def test_an_undecodable_image_adds_nothing(tmp_path, ceph_images):
    source = _source_project(tmp_path / "a.anatomark", ceph_images)
    first = _export(source, "coco", tmp_path / "first")
    folder = tmp_path / "dataset"
    _dataset_folder(source, first, folder)
    victim = next((folder / "images").iterdir())
    victim.write_bytes(victim.read_bytes()[:200])
    source.close()
    with Project.create(tmp_path / "b.anatomark", "ceph19") as target:
        with pytest.raises(ExchangeError, match="do not decode"):
            import_dataset(target, folder, "coco")
        assert len(target.images) == 0


@pytest.mark.parametrize("fmt, words", [("csv", "no csv annotation files"), ("coco", "no coco annotation files")])
def test_a_folder_without_annotations_is_one_line(tmp_path, fmt, words, capsys):
    (tmp_path / "empty").mkdir()
    target = tmp_path / "b.anatomark"
    assert main(["project", "new", str(target), "--schema", "ceph19"]) == 0
    assert main(["project", "import", str(target), "--dataset", str(tmp_path / "empty"), "--format", fmt]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
