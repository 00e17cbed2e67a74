"""Inference runtimes that run an exported ``model.onnx``: numpy plus the runtime itself, never torch.

Each module here describes one runtime as a :class:`rnnzoo.RuntimeSpec`;
:mod:`rnnzoo.runtimes.builtin` registers them through rnnzoo's own entry
point, the way a third-party plugin registers its runtimes. Every runtime
is imported inside its functions, so listing them needs none installed.
"""
