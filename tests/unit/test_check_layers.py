"""tools/check_layers.py: the real tree passes; cycles and layer breaks in a small tree fail."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_layers", ROOT / "tools/check_layers.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_layers", mod)
    spec.loader.exec_module(mod)
    return mod


check_layers = _load()


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in {"berthd/__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            init = root / parent / "__init__.py"
            if parent != Path(".") and not init.exists():
                init.write_text("")
        path.write_text(textwrap.dedent(text))
    return root


def test_berthd_passes() -> None:
    assert check_layers.check(ROOT) == []


def test_cycle_through_type_checking_import_fails(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "berthd/lib/a.py": "from berthd.lib import b\n",
            "berthd/lib/b.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from berthd.lib.c import C\n"
            ),
            "berthd/lib/c.py": "def f():\n    from .a import x\n",
        },
    )
    errors = check_layers.check(root)
    assert errors == ["import cycle: berthd.lib.a -> berthd.lib.b -> berthd.lib.c -> berthd.lib.a"]


def test_package_importing_its_own_module_is_no_cycle(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "berthd/lib/__init__.py": "from berthd.lib.a import A\n",
            "berthd/lib/a.py": "from berthd.lib import b\n",
            "berthd/lib/b.py": "B = 1\n",
        },
    )
    assert check_layers.check(root) == []


@pytest.mark.parametrize(
    ("rel", "text", "wanted"),
    [
        ("berthd/layer/x.py", "import berthd.image.y\n", "berthd.layer (L6) must not import"),
        ("berthd/api/x.py", "from berthd.daemon import y\n", "must not import berthd.daemon"),
        (
            "berthd/daemon/volumes/x.py",
            "from berthd.daemon.containers.service import S\n",
            "daemon.volumes (L4) must not import daemon.containers (L3)",
        ),
        (
            "berthd/daemon/containers/x.py",
            "from berthd.daemon.images.service import S\n",
            "only berthd.daemon.images.changes, not berthd.daemon.images.service",
        ),
        ("berthd/daemon/newpart/x.py", "from berthd.daemon.events import E\n", "has no layer"),
    ],
)
def test_layer_breaks_fail(tmp_path: Path, rel: str, text: str, wanted: str) -> None:
    errors = check_layers.check(_tree(tmp_path, {rel: text}))
    assert len(errors) == 1 and wanted in errors[0], errors


def test_seam_import_passes(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "berthd/daemon/containers/deps.py": "R = 1\n",
            "berthd/daemon/images/service.py": "from berthd.daemon.containers.deps import R\n",
        },
    )
    assert check_layers.check(root) == []


def test_type_only_cycle_fails(tmp_path: Path) -> None:
    files = {
        "berthd/builder/build.py": "from berthd.builder import dispatch\n",
        "berthd/builder/dispatch.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from berthd.builder.build import Builder\n"
        ),
    }
    errors = check_layers.check(_tree(tmp_path, files))
    assert len(errors) == 1 and errors[0].startswith("import cycle: "), errors
