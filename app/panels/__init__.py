"""Dockable panels: the image browser, the landmark table and the layers list."""
