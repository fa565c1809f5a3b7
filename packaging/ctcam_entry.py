"""Entry script of the frozen bundle: the ``ctcam`` command (``engine.cli:main``).

``multiprocessing.freeze_support()`` must run first: the viewer runs the model in a
``spawn`` child process, and in a frozen app that child is this same executable started
with multiprocessing's arguments.  Without the call the child would start a second GUI
instead of running the model.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from engine.cli import main

    sys.exit(main())
