"""The image viewer: a pyqtgraph view of one radiograph with its gestures and window/level."""
