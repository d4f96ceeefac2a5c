"""Name-based (version 5) UUIDs: the same seed and resource identity give the same id forever."""
from __future__ import annotations

import uuid
from functools import lru_cache

_ROOT = uuid.UUID("6f1c2a8e-5b0d-5e7c-9a43-2d9f0b7c1e55")  # the sandbox's own namespace


@lru_cache(maxsize=64)
def world_namespace(seed: int) -> uuid.UUID:
    return uuid.uuid5(_ROOT, f"world/{seed}")


def resource_uuid(seed: int, *identity: object) -> uuid.UUID:
    """UUID of a resource named by its path of identity parts, e.g. ("bayview", "usage-point", 17)."""
    return uuid.uuid5(world_namespace(seed), "/".join(str(p) for p in identity))
