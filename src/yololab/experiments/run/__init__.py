"""Running cells: one cell end to end (``run_cell``), its lock, the dry-run trainer, and cells as tasks of the pool (``cells``)."""
