"""Hostile non-image inputs (issue 6, items 1 and 3): landmark tables, project files and
model files, generated here. Each must end in its typed error with a one-line message
(DatasetError, ProjectError, ModelFileError) — or, for an odd but valid input, load —
and the file given must not be changed. Pickles that would run code are refused
without running it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.modelfile import ModelFileError, load_model, read_card
from core.resources import resolve_model
from core.project import Project, ProjectError
from core.schema import load_schema
from core.training.datasets import DatasetError, load_dataset

OK, ERROR, EITHER = "ok", "error", "either"


def _one_line(exc: BaseException) -> str:
    message = str(exc)
    assert message and "\n" not in message and "Traceback" not in message, message
    return message


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- landmark tables (generic CSV layout) ----------------------------------------------------

CHEST = list(load_schema("chest6").landmarks)
HEADER = "id,split," + ",".join(f"{n}_x,{n}_y" for n in CHEST)


def _row(id_="a", split="train", value="10.5"):
    return f"{id_},{split}," + ",".join([value] * (2 * len(CHEST)))


CSV_CASES = [
    ("valid", OK, HEADER + "\n" + _row() + "\n"),
    ("empty-file", ERROR, ""),
    ("header-only", ERROR, HEADER + "\n"),
    ("no-id-column", ERROR, HEADER.replace("id,", "ident,", 1) + "\n" + _row() + "\n"),
    ("missing-landmark-columns", ERROR, "id,split,foo_x,foo_y\na,train,1,2\n"),
    ("missing-one-landmark", ERROR, ",".join(HEADER.split(",")[:-2]) + "\n" + ",".join(_row().split(",")[:-2]) + "\n"),
    ("wrong-schema-ceph-columns", ERROR, "id," + ",".join(f"Sella{i}_x,Sella{i}_y" for i in range(3)) + "\na,1,2,3,4,5,6\n"),
    ("nan-values", OK, HEADER + "\n" + _row(value="nan") + "\n"),
    ("empty-values", OK, HEADER + "\n" + _row(value="") + "\n"),
    ("text-values", OK, HEADER + "\n" + _row(value="left") + "\n"),
    ("huge-values", ERROR, HEADER + "\n" + _row(value="1e300") + "\n"),
    ("inf-values", ERROR, HEADER + "\n" + _row(value="inf") + "\n"),
    ("overflow-values", ERROR, HEADER + "\n" + _row(value="1e999") + "\n"),
    ("negative-huge", ERROR, HEADER + "\n" + _row(value="-1e12") + "\n"),
    ("unknown-image-id", ERROR, HEADER + "\n" + _row(id_="nosuch") + "\n"),
    ("short-row", OK, HEADER + "\na,train,1\n"),
    ("binary-garbage", ERROR, b"\xff\xfe\x00\x81" * 200),
    ("nul-bytes", ERROR, "id,split\x00\x00\n\x00a\n"),
    ("unbalanced-quotes", ERROR, HEADER + '\n"a,train,' + ",".join(["1"] * 12) + "\n"),
]


@pytest.mark.parametrize(("name", "expect", "content"), CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_hostile_landmark_table(tmp_path, name, expect, content):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "images" / "a.png")
    table = tmp_path / "landmarks.csv"
    table.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = _sha(table)
    try:
        dataset = load_dataset(tmp_path, schema=None)
    except DatasetError as exc:
        assert expect != OK, f"{name} should load: {exc}"
        _one_line(exc)
    else:
        assert expect != ERROR, f"{name} should be refused"
        points = dataset.points()
        assert not np.isinf(points).any()
        assert np.all(np.isnan(points) | (np.abs(points) < 1e6))
    assert _sha(table) == before


def test_cli_evaluate_hostile_dataset_exit_2(tmp_path, capsys):
    from core import cli

    (tmp_path / "images").mkdir()
    (tmp_path / "landmarks.csv").write_text(HEADER + "\n" + _row(value="inf") + "\n")
    code = cli.main(["evaluate", "--model", "chest6", "--dataset", str(tmp_path), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


# -- project files --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project_bytes(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("project")
    image = folder / "img.png"
    Image.fromarray((np.arange(64 * 64) % 255).reshape(64, 64).astype(np.uint8)).save(image)
    path = folder / "p.anatomark"
    with Project.create(path, "chest6", user="tester") as project:
        record = project.add_image(image)
        project.set_point(record.id, CHEST[0], 10.0, 12.0)
        project.save()
    return path.read_bytes()


def _project_cases(n: int) -> list[tuple[str, str, object]]:
    cases: list[tuple[str, str, object]] = [
        ("empty", ERROR, lambda b: b""),
        ("text", ERROR, lambda b: b"not a project\n" * 10),
        ("png-renamed", ERROR, lambda b: b"\x89PNG\r\n\x1a\n" + b"\0" * 100),
        ("hdf5-signature-only", ERROR, lambda b: b"\x89HDF\r\n\x1a\n" + b"\0" * 500),
        ("json", ERROR, lambda b: json.dumps({"project": 1}).encode()),
    ]
    for frac in (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99):
        cases.append((f"truncated-{frac}", ERROR, lambda b, f=frac: b[: int(len(b) * f)]))
    for frac in (0.0, 0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99):
        cases.append((f"garbled-{frac}", EITHER, lambda b, f=frac: _garble(b, int(len(b) * f), 64)))
    cases.append(("zeroed-superblock", ERROR, lambda b: b"\0" * 512 + b[512:]))
    return cases


def _garble(data: bytes, start: int, length: int) -> bytes:
    rng = np.random.default_rng(start)
    noise = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
    return data[:start] + noise + data[start + length:]


PROJECT_CASES = _project_cases(0)


@pytest.mark.parametrize(("name", "expect", "make"), PROJECT_CASES, ids=[c[0] for c in PROJECT_CASES])
def test_hostile_project_file(tmp_path, project_bytes, name, expect, make):
    path = tmp_path / "hostile.anatomark"
    path.write_bytes(make(project_bytes))
    before = _sha(path)
    try:
        project = Project.open(path, user="tester")
    except ProjectError as exc:
        assert expect != OK
        message = _one_line(exc)
        assert str(tmp_path) not in message, "messages name the file, not its folder"
    else:
        assert expect != ERROR, f"{name} opened"
        project.images  # readable
        project.close()
    assert _sha(path) == before, "opening a damaged project changed it"
    assert not list(tmp_path.glob("*.tmp*")), "opening left temporary files"


# -- model files ----------------------------------------------------------------------------

MARKER_NAME = "pwned.marker"


class _Evil:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def model_pair(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    src = resolve_model("ceph19")  # the smaller bundled model
    for suffix in (".pt", ".json"):
        shutil.copy(src.with_suffix(suffix), folder / f"m{suffix}")
    return folder / "m.pt"


def _install(tmp_path: Path, model_pair: Path, weights: bytes | None = None, card: dict | str | None = None,
             fix_checksum: bool = False) -> Path:
    pt = tmp_path / "m.pt"
    pt.write_bytes(model_pair.read_bytes() if weights is None else weights)
    card_obj = json.loads(model_pair.with_suffix(".json").read_text()) if card is None else card
    if fix_checksum and isinstance(card_obj, dict):
        card_obj = dict(card_obj, weights_sha256=hashlib.sha256(pt.read_bytes()).hexdigest())
    pt.with_suffix(".json").write_text(card_obj if isinstance(card_obj, str) else json.dumps(card_obj))
    return pt


def _evil_torch(marker: Path) -> bytes:
    import io

    buf = io.BytesIO()
    torch.save({"global.w": torch.zeros(1), "payload": _Evil(str(marker))}, buf)
    return buf.getvalue()


def _evil_pickle(marker: Path) -> bytes:
    return pickle.dumps(_Evil(str(marker)))


def _model_cases() -> list[tuple[str, object]]:
    """(name, make(tmp_path, pair, marker) -> .pt path); every one must raise ModelFileError."""
    cases: list[tuple[str, object]] = []
    for frac in (0.0, 0.01, 0.1, 0.5, 0.9, 0.999):
        cases.append((f"truncated-{frac}", lambda t, p, m, f=frac: _install(t, p, p.read_bytes()[: int(p.stat().st_size * f)])))
        cases.append((f"truncated-{frac}-checksum-fixed", lambda t, p, m, f=frac: _install(t, p, p.read_bytes()[: int(p.stat().st_size * f)], fix_checksum=True)))
    cases += [
        ("bitflip-checksum", lambda t, p, m: _install(t, p, _flip_byte(p.read_bytes(), 5000))),
        ("card-missing", lambda t, p, m: _unlink(_install(t, p).with_suffix(".json"))),
        ("card-empty", lambda t, p, m: _install(t, p, card="")),
        ("card-garbled", lambda t, p, m: _install(t, p, card='{"format_version": 1, "schema": ')),
        ("card-wrong-format", lambda t, p, m: _install(t, p, card={"format_version": 99})),
        ("card-list", lambda t, p, m: _install(t, p, card="[1, 2, 3]")),
        ("card-schema-missing", lambda t, p, m: _install(t, p, card=_card_without(p, "schema"))),
        ("card-schema-hash-wrong", lambda t, p, m: _install(t, p, card=_card_schema_hash(p, "0" * 64))),
        ("card-architecture-wrong", lambda t, p, m: _install(t, p, card=_card_arch(p))),
        ("pickle-runs-code-torch", lambda t, p, m: _install(t, p, _evil_torch(m), fix_checksum=True)),
        ("pickle-runs-code-plain", lambda t, p, m: _install(t, p, _evil_pickle(m), fix_checksum=True)),
        ("pickle-runs-code-bad-checksum", lambda t, p, m: _install(t, p, _evil_torch(m))),
        ("not-a-state-dict", lambda t, p, m: _install(t, p, _torch_bytes([torch.zeros(2)]), fix_checksum=True)),
        ("text-as-weights", lambda t, p, m: _install(t, p, b"hello", fix_checksum=True)),
        ("png-as-weights", lambda t, p, m: _install(t, p, b"\x89PNG\r\n\x1a\n" + b"\0" * 64, fix_checksum=True)),
    ]
    return cases


def _flip_byte(data: bytes, at: int) -> bytes:
    b = bytearray(data)
    b[at] ^= 0xFF
    return bytes(b)


def _unlink(path: Path) -> Path:
    path.unlink()
    return path.with_suffix(".pt")


def _torch_bytes(obj) -> bytes:
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _card(pair: Path) -> dict:
    return json.loads(pair.with_suffix(".json").read_text())


def _card_without(pair: Path, key: str) -> dict:
    card = _card(pair)
    card.pop(key, None)
    return card


def _card_schema_hash(pair: Path, value: str) -> dict:
    card = _card(pair)
    card["schema"]["hash"] = value
    return card


def _card_arch(pair: Path) -> dict:
    card = _card(pair)
    card["architecture"] = {"global": {"nonsense": 1}}
    return card


MODEL_CASES = _model_cases()


@pytest.mark.parametrize(("name", "make"), MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_hostile_model_file(tmp_path, model_pair, name, make):
    marker = tmp_path / MARKER_NAME
    pt = make(tmp_path, model_pair, marker)
    files_before = {p.name: _sha(p) for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(ModelFileError) as info:
        load_model(pt, device="cpu")
    message = _one_line(info.value)
    assert len(message) < 400
    assert not marker.exists(), "unpickling ran code from the model file"
    assert {p.name: _sha(p) for p in tmp_path.iterdir() if p.is_file()} == files_before


def test_model_for_another_schema_is_refused(model_pair):
    with pytest.raises(ModelFileError, match="schema"):
        load_model(model_pair, device="cpu", expected_schema=load_schema("chest6"))


def test_cli_predict_with_evil_model_exit_2(tmp_path, capsys, model_pair):
    from core import cli

    marker = tmp_path / MARKER_NAME
    pt = _install(tmp_path, model_pair, _evil_torch(marker), fix_checksum=True)
    sample = Path(__file__).resolve().parents[2] / "resources" / "samples" / "chest_RG1.dcm"
    code = cli.main(["predict", str(sample), "--model", str(pt), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not marker.exists()
    assert read_card(pt)  # the card is still there, untouched


# -- lying model cards (issue 18): the card is untrusted input ---------------------------------


def _edit(pair: Path, change) -> dict:
    card = _card(pair)
    change(card)
    return card


def _set(path: str, value):
    """A change that sets ``card[a][b]… = value`` for ``path`` 'a.b…'."""
    def change(card):
        *head, last = path.split(".")
        target = card
        for key in head:
            target = target[key]
        target[last] = value
    return change


def _chest_schema(card):
    chest = json.loads(resolve_model("chest6").with_suffix(".json").read_text())
    card["schema"] = chest["schema"]  # a valid schema with a correct hash, for 6 landmarks


LYING_CARDS = [
    ("deep-brackets", "[" * 200_000),
    ("deep-objects", '{"a":' * 5_000 + "1" + "}" * 5_000),
    ("huge", " " * (33 * 1024 * 1024) + "{}"),
    ("input-size-60000", lambda p: _edit(p, lambda c: (_set("architecture.global.input_size", [60000, 60000])(c),
                                                        _set("input_size", [60000, 60000])(c)))),
    ("input-size-negative", lambda p: _edit(p, _set("architecture.global.input_size", [-8, 256]))),
    ("input-size-text", lambda p: _edit(p, _set("architecture.global.input_size", ["160", 128]))),
    ("input-size-one-side", lambda p: _edit(p, _set("architecture.global.input_size", [160]))),
    ("input-size-float", lambda p: _edit(p, _set("architecture.global.input_size", [160.5, 128]))),
    ("input-size-bool", lambda p: _edit(p, _set("architecture.global.input_size", [True, 128]))),
    ("input-size-disagrees", lambda p: _edit(p, _set("input_size", [256, 256]))),
    ("width-huge", lambda p: _edit(p, _set("architecture.global.width", 100_000))),
    ("width-zero", lambda p: _edit(p, _set("architecture.global.width", 0))),
    ("depth-50", lambda p: _edit(p, _set("architecture.global.depth", 50))),
    ("refiner-hidden-huge", lambda p: _edit(p, _set("architecture.global.refiner_hidden", 10**9))),
    ("landmarks-6-of-19", lambda p: _edit(p, _set("architecture.global.n_landmarks", 6))),
    ("landmarks-text", lambda p: _edit(p, _set("architecture.global.n_landmarks", "19"))),
    ("schema-swapped-hash-recomputed", lambda p: _edit(p, _chest_schema)),
    ("adjacency-3x3", lambda p: _edit(p, _set("architecture.global.adjacency", [[1, 0, 0], [0, 1, 0], [0, 0, 1]]))),
    ("adjacency-nan", lambda p: _edit(p, lambda c: c["architecture"]["global"]["adjacency"][0].__setitem__(0, float("nan")))),
    ("temperature-inf", lambda p: _edit(p, _set("architecture.global.temperature", float("inf")))),
    ("patch-size-0", lambda p: _edit(p, _set("architecture.patch.patch_size", 0))),
    ("patch-size-huge", lambda p: _edit(p, _set("architecture.patch.patch_size", 100_000))),
    ("patch-fine-scale-0", lambda p: _edit(p, _set("architecture.patch.fine_scale", 0))),
    ("patch-fine-mm-negative", lambda p: _edit(p, _set("architecture.patch.fine_mm_per_px", -0.4))),
    ("patch-fine-mm-text", lambda p: _edit(p, _set("architecture.patch.fine_mm_per_px", "0.4 mm"))),
    ("patch-landmarks-wrong", lambda p: _edit(p, _set("architecture.patch.n_landmarks", 7))),
    ("patch-not-object", lambda p: _edit(p, _set("architecture.patch", [1, 2]))),
    ("global-missing", lambda p: _edit(p, _set("architecture", {"patch": None}))),
    ("architecture-list", lambda p: _edit(p, _set("architecture", []))),
    ("decoder-unknown", lambda p: _edit(p, _set("inference", {"decoder": "rm -rf /"}))),
    ("patch-iterations-huge", lambda p: _edit(p, _set("inference", {"patch_iterations": 10**9}))),
    ("confidence-radius-nan", lambda p: _edit(p, _set("inference", {"confidence_radius": float("nan")}))),
    ("inference-list", lambda p: _edit(p, _set("inference", ["soft_argmax"]))),
    ("temperature-zero", lambda p: _edit(p, _set("architecture.global.temperature", 0))),
    ("temperature-400-digits", lambda p: _edit(p, _set("architecture.global.temperature", 10**400))),
    ("number-5000-digits", '{"format_version": 1, "x": ' + "9" * 5000 + "}"),
    ("conformal-quantiles-short", lambda p: _edit(p, _set("uncertainty.conformal.quantiles", [1.0]))),
    ("conformal-alpha-text", lambda p: _edit(p, _set("uncertainty.conformal.alpha", "0.1"))),
    ("conformal-not-object", lambda p: _edit(p, _set("uncertainty", {"conformal": [1, 2]}))),
    ("imported-from-list", lambda p: _edit(p, _set("imported_from", ["chest6@2"]))),
]


@pytest.mark.parametrize(("name", "card"), LYING_CARDS, ids=[c[0] for c in LYING_CARDS])
def test_lying_card_is_refused_before_anything_is_built(tmp_path, model_pair, name, card):
    pt = _install(tmp_path, model_pair, card=card(model_pair) if callable(card) else card)
    before = {p.name: _sha(p) for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(ModelFileError) as info:
        load_model(pt, device="cpu")
    message = _one_line(info.value)
    assert message.startswith("m.") and len(message) < 400, message
    assert {p.name: _sha(p) for p in tmp_path.iterdir() if p.is_file()} == before


@pytest.fixture(scope="module")
def bound_pair(tmp_path_factory) -> Path:
    """ceph19 saved by this version: its weights carry the card's binding."""
    from core.modelfile import combined_state_dict, save_model

    loaded = load_model(resolve_model("ceph19"))
    card = {k: v for k, v in loaded.card.items() if k not in ("weights_sha256", "format_version", "binding")}
    return save_model(tmp_path_factory.mktemp("bound") / "b.pt", combined_state_dict(loaded.global_net, loaded.patch_net), card)


@pytest.mark.parametrize("change", ["temperature", "binding-dropped", "binding-forged"])
def test_a_card_changed_after_saving_no_longer_matches_its_weights(tmp_path, bound_pair, change):
    assert load_model(bound_pair).card["binding"]  # the pristine pair loads
    card = _card(bound_pair)
    if change == "temperature":  # a plausible value, within every bound: only the binding can tell
        card["architecture"]["global"]["temperature"] = 2.0
    elif change == "binding-dropped":
        card.pop("binding")
    else:
        card["architecture"]["global"]["temperature"] = 2.0
        from core.card_checks import card_binding

        card["binding"] = card_binding(card)  # recomputed in the card, but the weights keep the old one
    pt = _install(tmp_path, bound_pair, card=card)
    with pytest.raises(ModelFileError, match="changed after the weights were saved"):
        load_model(pt)


def test_a_lying_card_never_becomes_a_project_version(tmp_path, model_pair, capsys):
    from core import cli
    from core.learning import ModelRegistry
    from core.project import Project

    pt = _install(tmp_path, model_pair, card=_edit(model_pair, _chest_schema))
    project_path = tmp_path / "p.anatomark"
    Project.create(project_path, "chest6").close()
    code = cli.main(["adopt", "--project", str(project_path), "--model", str(pt)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "schema has 6" in err, err
    assert ModelRegistry(project_path, "chest6").versions() == ["v0"]  # nothing published before it loaded
