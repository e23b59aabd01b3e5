"""JSON bytes the way Go's ``encoding/json`` writes them.

Digests are taken over JSON documents (OCI manifests, v1 layer configs), and clients
compare the documents dockerd writes, so berthd serialises like ``json.Marshal``:
compact, raw UTF-8, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped. Key order is the
caller's (Go writes struct fields in declaration order and sorts map keys).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["marshal"]


def marshal(obj: Any, *, sort_keys: bool = False) -> bytes:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    text = (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    return text.encode()
