"""``python -m rnnzoo``: the CLI, also the module torchrun starts (``torchrun -m rnnzoo train ...``)."""

from rnnzoo.cli import main

if __name__ == "__main__":
    main()
