"""The main job: train, export and verify every registered model; the report, its figures, benchmarks."""
