"""Landmark schemas: names, left/right pairs, vertical levels, graph edges,
segmentation classes and derived measurements (DESIGN.md 1 "Annotate", 2.1, 2.3).

A schema is the contract between a project, its models and its views. In the
:class:`LandmarkSchema` dataclass landmarks are referred to by index (the order
of ``landmarks`` is the channel order of every heatmap and point array); in
JSON they are referred to by name.

JSON format (``resources/schemas/<name>.json`` or any file)::

    {
      "name": "chest6",                        # required, short identifier
      "title": "Chest PA, 6 landmarks",        # optional, defaults to name
      "description": "...",                    # optional
      "landmarks": [                           # required, order = channel order
        {"name": "R_apex", "label": "Right lung apex", "class": "right_lung"},
        ...                                    # "label" defaults to name, "class"
      ],                                       #   is a segmentation class name or null
      "pairs": [["R_apex", "L_apex"], ...],    # optional, (patient's right, patient's left)
      "levels": [["R_apex", "L_apex"], ...],   # optional, top -> bottom
      "edges": [["S", "N"], ...],              # optional; absent -> derive_edges()
      "segmentation_classes": [                # optional
        {"name": "right_lung", "label": "Right lung", "bit": 1}, ...
      ],
      "measurements": [                        # optional
        {"name": "SNA", "kind": "angle", "points": ["S", "N", "A"],
         "unit": "deg", "label": "SNA angle"},
        {"name": "ANB", "kind": "difference", "of": ["SNA", "SNB"], "unit": "deg"}
      ]
    }

Measurement kinds: ``distance`` (2 points), ``angle`` (3 points, the angle at
the middle one, 0..180 degrees), ``difference`` (first minus second of two
other measurements) and ``ratio`` (first over second). A missing ``unit``
defaults to "mm" for distances, "deg" for angles, the first operand's unit for
differences and "" for ratios. Unknown keys are rejected (they are usually
typos). Every problem raises :class:`SchemaError` with a one-line message.
"""

from core.schema.elements import MEASUREMENT_KINDS, Measurement, SchemaError, SegmentationClass
from core.schema.geometry import derive_edges
from core.schema.loading import available_schemas, load_schema
from core.schema.model import LandmarkSchema

__all__ = [
    "MEASUREMENT_KINDS",
    "LandmarkSchema",
    "Measurement",
    "SchemaError",
    "SegmentationClass",
    "available_schemas",
    "derive_edges",
    "load_schema",
]
