"""An equal hyperparameter-tuning budget per entry (model x backbone entry), run before the seeds.

space.py (the ``tune:`` section), records.py (trial and study records), storage.py (Optuna storage,
sampler, pruner), trial.py (one trial, in a worker), runners.py (where trials run: local, process
pool, Ray), study.py (the budget loop), apply.py (the chosen values into the cells), report.py (row
columns, caption, protocol, the best-so-far / expected-max figure).
"""
