"""The built-in RNN / LSTM / GRU models; registered through the ``rnnzoo`` entry point ``rnnzoo.models.builtin``."""
