"""The comparison resolved: the strict spec, the run settings, every cell's config and folder, the protocol card."""
