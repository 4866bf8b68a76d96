"""Command line: ``python -m dpda.data.minicorpus ROOT [--seed N]``.

Authors
 * dpda contributors 2026
"""

import sys

from dpda.data.minicorpus import main

if __name__ == "__main__":
    sys.exit(main())
