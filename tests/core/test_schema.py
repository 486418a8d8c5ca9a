"""Landmark schemas: structure, graph, measurements, JSON round trips and errors."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from core.resources import shared_data_dir
from core.schema import (
    LandmarkSchema,
    Measurement,
    SchemaError,
    available_schemas,
    derive_edges,
    load_schema,
)

BUNDLED = ["ceph19", "chest6", "hand37", "pelvis14"]


def _tiny(**over) -> dict:
    d = {
        "name": "tiny",
        "landmarks": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
        "edges": [["a", "b"], ["b", "c"]],
        "measurements": [
            {"name": "ab", "kind": "distance", "points": ["a", "b"]},
            {"name": "bc", "kind": "distance", "points": ["b", "c"]},
            {"name": "abc", "kind": "angle", "points": ["a", "b", "c"]},
            {"name": "ab_minus_bc", "kind": "difference", "of": ["ab", "bc"]},
            {"name": "ab_over_bc", "kind": "ratio", "of": ["ab", "bc"]},
        ],
    }
    d.update(over)
    return d


def _connected(schema: LandmarkSchema) -> bool:
    seen, todo = {0}, [0]
    a = schema.adjacency()
    while todo:
        i = todo.pop()
        for j in np.flatnonzero(a[i]):
            if j not in seen:
                seen.add(int(j))
                todo.append(int(j))
    return len(seen) == schema.n_landmarks


def test_bundled_schemas_are_listed():
    assert set(BUNDLED) <= set(available_schemas())


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_schema_loads_and_round_trips(name):
    s = load_schema(name)
    assert s.name == name
    assert len(s.labels) == len(s.landmark_classes) == s.n_landmarks
    again = LandmarkSchema.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s
    assert _connected(s), "the landmark graph must be connected"
    a = s.adjacency()
    assert a.dtype == np.float32 and np.array_equal(a, a.T) and not a.diagonal().any()
    # all-missing points: every measurement is undefined, never an exception
    values = s.compute_measurements(np.full((s.n_landmarks, 2), np.nan), (0.1, 0.1))
    assert set(values) == {m.name for m in s.measurements} and all(v is None for v in values.values())


def test_load_schema_by_path(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(_tiny()))
    s = load_schema(path)
    assert s.landmarks == ("a", "b", "c") and s.edges == ((0, 1), (1, 2))
    assert load_schema(str(path)) == s


def test_normalized_adjacency_of_path_graph_by_hand():
    s = LandmarkSchema.from_dict(_tiny())
    # A + I = [[1,1,0],[1,1,1],[0,1,1]], degrees 2, 3, 2
    r6 = 1 / math.sqrt(6)
    expected = np.array([[1 / 2, r6, 0], [r6, 1 / 3, r6], [0, r6, 1 / 2]], dtype=np.float32)
    assert s.adjacency().tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    np.testing.assert_allclose(s.normalized_adjacency(), expected, rtol=1e-6)
    assert s.normalized_adjacency().dtype == np.float32


def test_chest6_structure():
    s = load_schema("chest6")
    assert s.landmarks == ("R_apex", "R_costophrenic", "R_cardiophrenic",
                           "L_apex", "L_costophrenic", "L_cardiophrenic")
    i = s.index
    assert s.pairs == ((0, 3), (1, 4), (2, 5))
    assert s.levels == ((0, 3), (2, 5), (1, 4))  # apex -> cardiophrenic -> costophrenic
    edges = set(s.edges)
    pairs = {(0, 3), (1, 4), (2, 5)}
    chains = {(i("R_apex"), i("R_cardiophrenic")), (i("R_costophrenic"), i("R_cardiophrenic")),
              (i("L_apex"), i("L_cardiophrenic")), (i("L_costophrenic"), i("L_cardiophrenic"))}
    cross = {tuple(sorted(e)) for e in [(i("R_apex"), i("L_cardiophrenic")), (i("L_apex"), i("R_cardiophrenic")),
                                         (i("R_cardiophrenic"), i("L_costophrenic")),
                                         (i("L_cardiophrenic"), i("R_costophrenic"))]}
    assert edges == pairs | {tuple(sorted(e)) for e in chains} | cross
    assert list(s.edges) == sorted(s.edges) and all(a < b for a, b in s.edges)
    assert [(c.name, c.bit) for c in s.segmentation_classes] == [
        ("right_lung", 1), ("left_lung", 2), ("heart", 4), ("right_clavicle", 8), ("left_clavicle", 16)]
    assert s.landmark_classes == (0, 0, 0, 1, 1, 1)
    assert "edges" not in s.to_dict()  # derived, so not written out


def test_chest6_order_matches_shared_csv():
    data = shared_data_dir()
    path = None if data is None else data / "chest_jsrt" / "landmarks_chest6.csv"
    if path is None or not path.is_file():
        pytest.skip("shared chest_jsrt data not present")
    header = next(csv.reader(path.open()))
    names = [h[:-2] for h in header[2::2]]
    assert tuple(names) == load_schema("chest6").landmarks


def test_derive_edges_rules():
    # pairs only
    assert derive_edges(4, [(0, 1), (2, 3)], []) == [(0, 1), (2, 3)]
    # a midline landmark (4) below two levels joins both landmarks of the level above
    got = derive_edges(5, [(0, 1), (2, 3)], [(0, 1), (2, 3), (4,)])
    assert got == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3), (2, 4), (3, 4)]
    with pytest.raises(SchemaError):
        derive_edges(2, [(0, 5)], [])


def test_sna_snb_anb_on_constructed_points():
    s = load_schema("ceph19")
    pts = np.full((19, 2), np.nan)
    n = np.array([500.0, 300.0])
    pts[s.index("N")] = n
    pts[s.index("S")] = n + [-300.0, 0.0]  # sella straight behind nasion
    for name, deg, r in (("A", 82.0, 250.0), ("B", 79.0, 400.0)):
        t = math.radians(deg)  # angle between N->S = (-1, 0) and N->point, point below (y down)
        pts[s.index(name)] = n + r * np.array([-math.cos(t), math.sin(t)])
    m = s.compute_measurements(pts, (0.1, 0.1))
    assert m["SNA"] == pytest.approx(82.0)
    assert m["SNB"] == pytest.approx(79.0)
    assert m["ANB"] == pytest.approx(3.0)
    assert m["S_N_length"] == pytest.approx(30.0)  # 300 px * 0.1 mm
    assert m["anterior_face_height"] is None  # Me missing
    units = s.measurement_units((0.1, 0.1))
    assert units["SNA"] == units["ANB"] == "deg" and units["S_N_length"] == "mm"
    assert s.measurement_units(None)["S_N_length"] == "px"


def test_measurements_px_anisotropic_and_undefined():
    s = LandmarkSchema.from_dict(_tiny())
    pts = np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 4.0]])
    m = s.compute_measurements(pts, None)
    assert m == pytest.approx({"ab": 3.0, "bc": 4.0, "abc": 90.0, "ab_minus_bc": -1.0, "ab_over_bc": 0.75})
    # anisotropic spacing: the angle is measured in mm space
    m = s.compute_measurements(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), (2.0, 1.0))
    assert m["ab"] == pytest.approx(2.0)
    assert m["bc"] == pytest.approx(math.sqrt(5.0))
    assert m["abc"] == pytest.approx(math.degrees(math.atan2(1.0, 2.0)))
    # zero-length denominator and zero-length angle arm -> None
    m = s.compute_measurements(np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]]), None)
    assert m["bc"] == 0.0 and m["ab_over_bc"] is None and m["abc"] is None
    # a NaN point poisons everything that depends on it
    m = s.compute_measurements(np.array([[np.nan, 0.0], [1.0, 1.0], [2.0, 1.0]]), None)
    assert m["ab"] is None and m["ab_minus_bc"] is None and m["bc"] == 1.0
    with pytest.raises(ValueError):
        s.compute_measurements(np.zeros((2, 2)), None)


def test_measurement_unit_defaults():
    s = LandmarkSchema.from_dict(_tiny())
    units = {m.name: m.unit for m in s.measurements}
    assert units == {"ab": "mm", "bc": "mm", "abc": "deg", "ab_minus_bc": "mm", "ab_over_bc": ""}


def test_hand37_wrist_width_is_50mm_on_atlas_data():
    data = shared_data_dir()
    path = None if data is None else data / "hand_dha" / "landmarks.csv"
    if path is None or not path.is_file():
        pytest.skip("shared hand_dha data not present")
    s = load_schema("hand37")
    row = next(csv.DictReader(path.open()))
    pts = np.array([[float(row[f"L{k}_x"]), float(row[f"L{k}_y"])] for k in range(1, 38)])
    sp = (float(row["mm_per_px_x"]), float(row["mm_per_px_y"]))
    assert s.compute_measurements(pts, sp)["wrist_width"] == pytest.approx(50.0, abs=0.05)


def test_pelvis14_classes_and_levels():
    s = load_schema("pelvis14")
    assert s.n_landmarks == 14 and len(s.pairs) == 7 and len(s.segmentation_classes) == 6
    for r, l in s.pairs:
        assert s.landmarks[r].endswith("-r") and s.landmarks[l].endswith("-l")
    cls = {s.landmarks[i]: s.segmentation_classes[c].name for i, c in enumerate(s.landmark_classes)}
    assert cls["FH-l"] == "left_femur" and cls["ASIS-r"] == "right_hemipelvis"
    assert sorted(i for lv in s.levels for i in lv) == list(range(14))


def test_index():
    s = load_schema("chest6")
    assert s.index("L_apex") == 3
    with pytest.raises(SchemaError):
        s.index("nope")


def test_edges_are_normalised_on_construction():
    d = _tiny(edges=[["c", "b"], ["b", "a"], ["a", "b"]])
    assert LandmarkSchema.from_dict(d).edges == ((0, 1), (1, 2))


@pytest.mark.parametrize(
    "change",
    [
        {"landmarks": []},
        {"landmarks": [{"name": "a"}, {"name": "a"}]},
        {"name": 3},
        {"pairs": [["a", "zz"]]},
        {"pairs": [["a", "a"]]},
        {"pairs": [["a", "b"], ["a", "c"]]},
        {"pairs": [["a", "b"]], "levels": [["a"], ["b"]]},
        {"levels": [["a"], ["a", "b"]]},
        {"levels": [[]]},
        {"edges": [["a", "a"]]},
        {"edges": [["a"]]},
        {"edges": "a-b"},
        {"landmarks": [{"name": "a", "class": "lung"}]},
        {"segmentation_classes": [{"name": "x", "bit": 1}, {"name": "y", "bit": 1}]},
        {"segmentation_classes": [{"name": "x", "bit": "1"}]},
        {"segmentation_classes": [{"name": "x", "bit": 0}]},
        {"measurements": [{"name": "m", "kind": "area", "points": ["a", "b"]}]},
        {"measurements": [{"name": "m", "kind": "distance", "points": ["a"]}]},
        {"measurements": [{"name": "m", "kind": "angle", "points": ["a", "b", "zz"]}]},
        {"measurements": [{"name": "m", "kind": "ratio", "of": ["m", "m"]}]},
        {"measurements": [{"name": "p", "kind": "difference", "of": ["q", "q"]},
                          {"name": "q", "kind": "difference", "of": ["p", "p"]}]},
        {"measurements": [{"name": "m", "kind": "ratio", "of": ["x", "y"]}]},
        {"measurements": [{"name": "m", "kind": "distance", "points": ["a", "b"]},
                          {"name": "m", "kind": "distance", "points": ["b", "c"]}]},
        {"landmark": []},  # typo'd key
        {"landmarks": [{"name": "a", "lable": "A"}]},
        {"landmarks": [7]},
    ],
)
def test_invalid_schemas_raise_schema_error(change):
    d = _tiny(**change)
    if "landmarks" in change or "landmark" in change:
        d.pop("edges")
        d.pop("measurements")
    with pytest.raises(SchemaError) as info:
        LandmarkSchema.from_dict(d)
    assert "\n" not in str(info.value)


def test_from_dict_rejects_non_objects():
    for bad in (None, [], "chest6", 3):
        with pytest.raises(SchemaError):
            LandmarkSchema.from_dict(bad)


def test_invalid_files_raise_schema_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "landmarks": [')
    with pytest.raises(SchemaError, match="not valid JSON"):
        load_schema(bad)
    with pytest.raises(SchemaError):
        load_schema(tmp_path / "missing.json")
    with pytest.raises(SchemaError, match="available"):
        load_schema("no_such_schema")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(_tiny(pairs=[["a", "q"]])))
    with pytest.raises(SchemaError, match="wrong.json"):
        load_schema(wrong)


def test_dataclass_validation():
    with pytest.raises(SchemaError):
        Measurement("m", "distance", points=("a", "b", "c"))
    with pytest.raises(SchemaError):
        LandmarkSchema("x", "X", ("a", "b"), ("A",), (), (), (), (), (None, None), ())
    with pytest.raises(SchemaError):
        LandmarkSchema("x", "X", ("a", "b"), ("A", "B"), ((0, 2),), (), (), (), (None, None), ())
    s = LandmarkSchema("x", "X", ["a", "b"], ["A", "B"], [(1, 0)], [(0, 1)], [(1, 0)], [], [None, None], [])
    assert s.pairs == ((1, 0),) and s.edges == ((0, 1),) and s.levels == ((0, 1),)
    assert hash(s) == hash(LandmarkSchema.from_dict(s.to_dict()))
