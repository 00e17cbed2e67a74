"""Hyperparameter search on Optuna: ``rnnzoo.tune`` and ``rnnzoo tune``.

A layer of its own, between the zoo (which may search before its
leaderboard) and the exporter (the best trial is exported like any run).
Optuna is imported only here, and only when a search runs.
"""
