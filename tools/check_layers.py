"""Check berthd's import layers (docs/architecture.md).

A package may import only from packages in layers below its own (a higher
number here), plus itself. Siblings in one layer do not import each other,
except in the bottom layer. The API layer must not import the daemon: routers
declare the backend protocols they need and the daemon satisfies them.
Exit status 1 lists every offending import.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

LAYERS: dict[str, int] = {
    "__main__": 0,
    "cli": 1,
    "api": 2,
    "daemon": 3,
    "builder": 4,
    "distribution": 4,
    "container": 5,
    "image": 5,
    "volume": 5,
    "network": 5,
    "runtime": 5,
    "logger": 5,
    "registry": 5,
    "cluster": 5,
    "layer": 6,
    "oci": 6,
    "config": 7,
    "errdefs": 7,
    "lib": 7,
    "version": 7,
}
BOTTOM = 7
FORBIDDEN = {("api", "daemon")}


def top_package(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "berthd" or len(parts) < 2:
        return None
    return parts[1]


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                # a module's package is its dotted name minus the last part,
                # unless it is an __init__ (then the package is itself)
                pkg = base if path.name == "__init__.py" else base[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                name = ".".join([*pkg, node.module] if node.module else pkg)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    errors: list[str] = []
    for path in sorted((root / "berthd").rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        own = top_package(module)
        if own is None:
            continue
        if own not in LAYERS:
            errors.append(f"{path}: package berthd.{own} has no layer in tools/check_layers.py")
            continue
        for lineno, name in imports_of(path, module):
            other = top_package(name)
            if other is None or other == own:
                continue
            if other not in LAYERS:
                errors.append(f"{path}:{lineno}: imports unknown package berthd.{other}")
                continue
            mine, theirs = LAYERS[own], LAYERS[other]
            bad = theirs < mine or (theirs == mine and mine != BOTTOM) or (own, other) in FORBIDDEN
            if bad:
                errors.append(
                    f"{path}:{lineno}: berthd.{own} (L{mine}) must not import "
                    f"berthd.{other} (L{theirs})"
                )
    for e in errors:
        print(e)
    if not errors:
        print("import layers ok")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
