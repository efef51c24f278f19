"""``python -m origin.cli``: the same as the ``prism`` console script."""

import sys

from origin.cli import main

if __name__ == "__main__":
    sys.exit(main())
