"""Anatomark core: everything without Qt.

Image loading, landmark schemas, heatmaps, models, losses, training, inference,
metrics and the command line. Coordinates everywhere in ``core`` are ``(x, y)``
pixels of the full-resolution image, origin at the centre of the top-left pixel
(see ``docs/adr/0001-coordinates.md``).
"""

__version__ = "0.1.0"
