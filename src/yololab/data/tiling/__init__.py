"""Tiled training: the slice grid, tile settings and the tiled data set."""
