"""`python -m sandbox`: the same as `green-button-sandbox` and `python run.py`."""

from sandbox.server import main

raise SystemExit(main())
