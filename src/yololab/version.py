"""yololab's version (a module of its own so that any layer may read it without importing torch)."""

__version__ = "0.1.0"
