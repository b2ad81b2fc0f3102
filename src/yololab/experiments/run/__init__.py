"""Running cells: one cell end to end, its lock, the dry-run trainer, and the executors that run many."""
