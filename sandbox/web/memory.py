"""Memory handed back to the operating system after requests with large bodies.

An upload is parsed into a tree many times its size (an XML element costs ~130 bytes). Python and
libxml2 free it when the answer is made, but glibc keeps the freed heap, so a process that parsed a
few hostile uploads stayed at about a gigabyte. After a request whose body was larger than
TRIM_AFTER_BYTES, `malloc_trim(0)` returns the free heap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

TRIM_AFTER_BYTES = 1024 * 1024


@lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None  # glibc only; elsewhere nothing to do
    except (OSError, AttributeError):
        return None


def trim() -> None:
    """Hand the free heap back to the operating system (where the C library can)."""
    fn = _malloc_trim()
    if fn is not None:
        fn(0)


class ReturnsMemory:
    """WSGI middleware: trim() after each request that sent a body of more than TRIM_AFTER_BYTES, once
    the app has made its answer (the request and its parse are gone) and before it is sent, so a
    client that has the answer finds the memory returned."""

    def __init__(self, app: WSGIApplication):
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            large = int(environ.get("CONTENT_LENGTH") or 0) > TRIM_AFTER_BYTES
        except ValueError:
            large = False
        answer = self.app(environ, start_response)
        if large:
            trim()
        return answer
