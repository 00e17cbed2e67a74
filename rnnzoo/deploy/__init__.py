"""Deployment: numpy + onnxruntime only, never torch: sessions, export cards, predict, verify."""
