"""The HTTP servers `python run.py` (sandbox.server) runs the apps under.

- processes: granian, a Rust HTTP server, with several worker processes, each a fork of the app the
  main process prepared (the default: the ESPI API at the speed a shared deployment needs);
- threads: Waitress, a pure-Python server with a pool of threads in one process (`--server waitress`;
  also the demo third-party app's server, which needs no more).

Both serve the same WSGI apps; nothing below the web layer knows which one runs."""
