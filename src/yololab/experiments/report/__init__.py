"""The comparison's outputs: rows read back, summaries, tables (md/tex/csv/json), plots, headline and report.html."""
