"""``python -m mriunlearn``: see :mod:`mriunlearn.cli`.

A process that joined a process group (``torchrun``, or ``WORLD_SIZE`` > 1) leaves it before exiting,
whether the command succeeded or stopped with an error: a gloo group left to the interpreter's exit
can abort the process (``terminate called without an active exception``) after its exit status was
decided.
"""

import sys

from .cli import main


def run() -> int:
    """:func:`~mriunlearn.cli.main`, then leave the process group if one was joined."""
    try:
        return main()
    finally:
        if "torch.distributed" in sys.modules:  # only a command that imported torch can have joined one
            from .distributed import cleanup

            cleanup()


if __name__ == "__main__":
    raise SystemExit(run())
