"""An equal hyperparameter-tuning budget per entry (model x backbone entry), run before the seeds.

space.py (the ``tune:`` section), records.py (trial and study records), trial.py (one trial, in a
worker), storage.py (Optuna storage, sampler, pruner), runners.py (where trials run: local, process pool, Ray), study.py (the budget loop on Optuna's
RDB storage), apply.py (the chosen values into the cells), figures.py (best-so-far curves for the report).
"""
