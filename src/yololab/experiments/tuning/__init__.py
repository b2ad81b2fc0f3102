"""An equal hyperparameter-tuning budget per entry (model x backbone entry), run before the seeds.

The ``tune:`` section itself is ``plan.tune_space``; here: records.py (trial and study records),
storage.py (Optuna storage, sampler, pruner), trial.py (one trial, a task of ``experiments.pool``),
study.py (the budget loop), apply.py (the chosen values into the cells). Tuning in the report (row columns, caption, figure) is ``report.tuning_report``.
"""
