"""Name-based (version 5) UUIDs: the same seed and resource identity give the same id forever."""

from __future__ import annotations

import hashlib
import uuid
from functools import lru_cache

_ROOT = uuid.UUID("6f1c2a8e-5b0d-5e7c-9a43-2d9f0b7c1e55")  # the sandbox's own namespace


@lru_cache(maxsize=64)
def world_namespace(seed: int) -> uuid.UUID:
    return uuid.uuid5(_ROOT, f"world/{seed}")


def resource_uuid(seed: int, *identity: object) -> uuid.UUID:
    """UUID of a resource named by its path of identity parts, e.g. ("bayview", "usage-point", 17)."""
    return uuid.uuid5(world_namespace(seed), "/".join(str(p) for p in identity))


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # RFC 4122 variant bits over a hex digit


def _format(digest: bytes) -> str:
    """The UUID text of a SHA-1 digest, version 5 (what uuid.uuid5 gives, without its objects)."""
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def resource_uuid_str(seed: int, *identity: object) -> str:
    """str(resource_uuid(...)), computed without building UUID objects (seeding makes hundreds of thousands)."""
    return _format(hashlib.sha1(world_namespace(seed).bytes + "/".join(str(p) for p in identity).encode()).digest())


def uuid_family(seed: int, *prefix: object):
    """f(last) == resource_uuid_str(seed, *prefix, last), hashing the shared prefix once (a year of blocks)."""
    base = hashlib.sha1(world_namespace(seed).bytes + ("/".join(str(p) for p in prefix) + "/").encode())

    def make(last: object) -> str:
        h = base.copy()
        h.update(str(last).encode())
        x = h.hexdigest()  # _format, inlined: a year of blocks is 366 calls per MeterReading
        return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"

    return make
