#!/usr/bin/env python3
"""Start the Green Button Sandbox from a checkout (the same as the `green-button-sandbox` command)."""

import sys

from sandbox.server import main

if __name__ == "__main__":
    sys.exit(main())
