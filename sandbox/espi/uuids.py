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


_CLEAR = ~((0xF << 76) | (0x3 << 62))
_SET = (0x5 << 76) | (0x2 << 62)  # version 5, RFC 4122 variant


def _format(digest: bytes) -> str:
    h = "%032x" % (int.from_bytes(digest[:16], "big") & _CLEAR | _SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def resource_uuid_str(seed: int, *identity: object) -> str:
    """str(resource_uuid(...)), computed without building UUID objects (seeding makes hundreds of thousands)."""
    return _format(hashlib.sha1(world_namespace(seed).bytes + "/".join(str(p) for p in identity).encode()).digest())


def uuid_family(seed: int, *prefix: object):
    """f(last) == resource_uuid_str(seed, *prefix, last), hashing the shared prefix once (a year of blocks)."""
    base = hashlib.sha1(world_namespace(seed).bytes + ("/".join(str(p) for p in prefix) + "/").encode())

    def make(last: object) -> str:
        h = base.copy()
        h.update(str(last).encode())
        return _format(h.digest())

    return make
