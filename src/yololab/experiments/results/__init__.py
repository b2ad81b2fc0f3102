"""The records every stage reads and writes (cell results, table rows, statuses, columns) and their one flat form."""
