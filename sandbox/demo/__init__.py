"""Demo Energy App: a small third-party client of the sandbox's utilities, over HTTP only (see app.py)."""
