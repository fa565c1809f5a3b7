"""``python -m engine.cli ...`` is the ``ctcam`` command."""

import sys

if __name__ == "__main__":
    from engine.cli import main

    sys.exit(main())
