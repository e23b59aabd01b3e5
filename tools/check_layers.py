"""Check berthd's import layers and import cycles (docs/architecture.md).

Three rules, over every import in ``berthd/`` (those under ``if TYPE_CHECKING:``
and inside functions included: a circle of types is still a circle):

1. Packages: a package may import only from packages in layers below its own
   (a higher number in ``LAYERS``), plus itself. Siblings in one layer do not
   import each other, except in the bottom layer. The API layer must not import
   the daemon: routers declare the backend protocols they need and the daemon
   satisfies them.
2. Inside ``berthd.daemon`` the same rule holds between its sub-packages and
   top modules (``DAEMON_LAYERS``). ``daemon.containers`` and ``daemon.images``
   are independent of each other except through the seam modules in
   ``DAEMON_SEAMS``.
3. Modules: no import cycle between any two berthd modules. ``from pkg import
   mod`` counts as an import of ``pkg.mod`` when that is a module.

Exit status 1 lists every offending import and every cycle.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
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

# berthd.daemon's own parts: the composition root on top, the services that
# drive others (build, the swarm cluster, system) above the ones they drive.
DAEMON_LAYERS: dict[str, int] = {
    "assemble": 0,
    "build": 1,
    "system": 1,
    "swarm_networks": 1,
    "cluster": 2,
    "networks": 2,
    "containers": 3,
    "images": 3,
    "volumes": 4,
    "events": 4,
    "components": 4,
    "hostinfo": 4,
    "layout": 4,
    "daemon_id": 4,
    "runtimes": 4,
    "probecache": 4,
}
DAEMON_BOTTOM = 4
# the only modules one of daemon.containers / daemon.images may import of the other
DAEMON_SEAMS: dict[tuple[str, str], frozenset[str]] = {
    ("images", "containers"): frozenset({"berthd.daemon.containers.deps"}),
    ("containers", "images"): frozenset({"berthd.daemon.images.changes"}),
}


def module_name(root: Path, path: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def raw_imports(path: Path, module: str) -> Iterator[tuple[int, str, list[str]]]:
    """(line, imported module, names imported from it) of every import statement."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name, []
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
            yield node.lineno, name, [a.name for a in node.names]


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    return [(line, name) for line, name, _ in raw_imports(path, module)]


def resolve(name: str, modules: set[str]) -> str | None:
    """The berthd module an imported name lives in (``a.b.C`` → ``a.b``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def module_imports(path: Path, module: str, modules: set[str]) -> list[tuple[int, str]]:
    """(line, name) of every import; ``from pkg import mod`` gives ``pkg.mod``."""
    found: list[tuple[int, str]] = []
    for line, name, names in raw_imports(path, module):
        subs = [f"{name}.{n}" for n in names if f"{name}.{n}" in modules]
        found.extend((line, sub) for sub in subs)
        if len(subs) < len(names) or not names:
            found.append((line, name))
    return found


def top_package(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "berthd" or len(parts) < 2:
        return None
    return parts[1]


def daemon_part(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["berthd", "daemon"] or len(parts) < 3:
        return None
    return parts[2]


def layer_error(table: dict[str, int], bottom: int, own: str, other: str, what: str) -> str | None:
    if other not in table:
        return f"imports unknown {what}.{other} (add it to tools/check_layers.py)"
    mine, theirs = table[own], table[other]
    if theirs < mine or (theirs == mine and mine != bottom):
        return f"{what}.{own} (L{mine}) must not import {what}.{other} (L{theirs})"
    return None


def cycles(graph: dict[str, set[str]]) -> list[tuple[frozenset[str], list[str]]]:
    """Each strongly connected component of more than one module (iterative
    Tarjan), with a shortest cycle through it to print."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[frozenset[str], list[str]]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                scc: set[str] = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    scc.add(w)
                    if w == v:
                        break
                if len(scc) > 1:
                    found.append((frozenset(scc), _shortest_cycle(graph, scc)))
    return found


def _shortest_cycle(graph: dict[str, set[str]], scc: set[str]) -> list[str]:
    first = min(scc)
    prev: dict[str, str] = {}
    queue = [first]
    for v in queue:
        for w in sorted(graph[v] & scc):
            if w == first:
                path = [v]
                while path[-1] != first:
                    path.append(prev[path[-1]])
                return [*reversed(path), first]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    raise AssertionError("a strongly connected component has a cycle")


def check(root: Path) -> list[str]:
    files = {module_name(root, p): p for p in sorted((root / "berthd").rglob("*.py"))}
    modules = set(files)
    errors: list[str] = []
    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        own = top_package(module)
        if own is not None and own not in LAYERS:
            errors.append(f"{path}: package berthd.{own} has no layer in tools/check_layers.py")
            continue
        for lineno, name in module_imports(path, module, modules):
            target = resolve(name, modules)
            if target is not None and target != module:
                graph[module].add(target)
            other = top_package(name)
            if own is None or other is None:
                continue
            err: str | None = None
            if other != own:
                err = layer_error(LAYERS, BOTTOM, own, other, "berthd")
                if err is None and (own, other) in FORBIDDEN:
                    err = f"berthd.{own} must not import berthd.{other}"
            elif own == "daemon":
                mine, theirs = daemon_part(module), daemon_part(name)
                if mine is not None and theirs is not None and mine != theirs:
                    seams = DAEMON_SEAMS.get((mine, theirs))
                    if seams is not None:
                        if name not in seams:
                            err = (
                                f"berthd.daemon.{mine} may import of berthd.daemon.{theirs}"
                                f" only {', '.join(sorted(seams))}, not {name}"
                            )
                    elif mine in DAEMON_LAYERS:
                        err = layer_error(DAEMON_LAYERS, DAEMON_BOTTOM, mine, theirs, "daemon")
                    else:
                        err = f"berthd.daemon.{mine} has no layer in tools/check_layers.py"
            if err is not None:
                errors.append(f"{path}:{lineno}: {err}")
    for scc, cycle in cycles(graph):
        more = f" (a circle of {len(scc)} modules)" if len(scc) > len(cycle) - 1 else ""
        errors.append("import cycle: " + " -> ".join(cycle) + more)
    return errors


def main(root: Path | None = None) -> int:
    errors = check(root or Path(__file__).resolve().parent.parent)
    for e in errors:
        print(e)
    if not errors:
        print("import layers ok, no import cycles")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
