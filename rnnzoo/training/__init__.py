"""Training: config, the loop and its state, early stopping, metrics, normalization, checkpoints, DDP."""
