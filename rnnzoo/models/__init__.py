"""The built-in RNN / LSTM / GRU models (``recurrent.py``), registered by ``builtin.py`` through rnnzoo's own
entry point ``builtin_models``, exactly like a third-party plugin."""
