"""Running a model: backends per file kind, pre/post-processing, the predictor pipeline and timing."""
