from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from berthd import errdefs
from berthd.image.fs_store import FSStoreBackend
from berthd.image.reference import parse_normalized_named as p
from berthd.image.reference_store import ReferenceStore
from berthd.image.store import ImageStore
from berthd.image.tarexport_load import ImageLoader, parse_manifest_json

from .archives import TarBuilder, blobs_save, compress, legacy_save, oci_layout, sha
from .fakes import FakeLayerStore, make_config, make_layer_tar


class Env:
    def __init__(self, root: str) -> None:
        self.layers = FakeLayerStore()
        self.images = ImageStore(FSStoreBackend(os.path.join(root, "imagedb")), self.layers)
        self.refs = ReferenceStore(os.path.join(root, "repositories.json"))
        self.events: list[tuple[str, str]] = []
        self.loader = ImageLoader(
            self.images,
            self.refs,
            self.layers,
            tmp_dir=root,
            on_event=lambda i, a: self.events.append((i, a)),
        )
        self.lines: list[bytes] = []

    def load(self, data: bytes, quiet: bool = True) -> list[str]:
        self.lines = []
        self.loader.load(io.BytesIO(data), self.lines.append, quiet=quiet)
        return [json.loads(line)["stream"] for line in self.lines if b'"stream"' in line]


LAYERS = [make_layer_tar({"bin/sh": b"x" * 100}), make_layer_tar({"etc/a": b"a"})]


@pytest.fixture
def env(tmp_path: str) -> Env:
    return Env(str(tmp_path))


def test_load_blobs_style_tagged(env: Env) -> None:
    config = make_config(LAYERS)
    out = env.load(blobs_save([(config, LAYERS, ["busybox:latest", "foo/bar:1"])]))
    image_id = "sha256:" + sha(config)
    assert out == ["Loaded image: busybox:latest\n", "Loaded image: foo/bar:1\n"]
    assert env.lines[0] == b'{"stream":"Loaded image: busybox:latest\\n"}\n'
    assert env.refs.get(p("busybox")) == image_id
    assert env.images.get(image_id).config.raw == config
    assert env.events == [(image_id, "load")]
    # layers are held by the image only
    assert all(layer.refs == 1 for layer in env.layers.layers.values())


def test_untagged_message_and_quirk(env: Env) -> None:
    c1, c2 = make_config(LAYERS, cmd="a"), make_config(LAYERS, cmd="b")
    out = env.load(blobs_save([(c1, LAYERS, ["x:1"]), (c2, LAYERS, [])]))
    # dockerd prints every "Loaded image ID" when the *last* image had no tag
    assert out == [
        "Loaded image: x:1\n",
        f"Loaded image ID: sha256:{sha(c1)}\nLoaded image ID: sha256:{sha(c2)}\n",
    ]


def test_tag_moves_with_message(env: Env) -> None:
    c1, c2 = make_config(LAYERS, cmd="a"), make_config(LAYERS, cmd="b")
    env.load(blobs_save([(c1, LAYERS, ["x:1"])]))
    out = env.load(blobs_save([(c2, LAYERS, ["x:1"])]))
    assert out == [
        f"The image x:1 already exists, renaming the old one with ID sha256:{sha(c1)} "
        "to empty string\n",
        "Loaded image: x:1\n",
    ]
    assert env.refs.get(p("x:1")) == "sha256:" + sha(c2)


@pytest.mark.parametrize("kind", ["", "gzip", "zstd"])
def test_layer_compression(env: Env, kind: str) -> None:
    config = make_config(LAYERS)
    env.load(blobs_save([(config, LAYERS, ["c:1"])], layer_compression=kind))
    assert env.images.exists("sha256:" + sha(config))


def test_whole_archive_gzip(env: Env) -> None:
    config = make_config(LAYERS)
    env.load(compress(blobs_save([(config, LAYERS, [])]), "gzip"))
    assert env.images.exists("sha256:" + sha(config))


def test_legacy_layout_with_symlinked_layer(env: Env) -> None:
    layers = [LAYERS[0], make_layer_tar({"b": b"b"}), LAYERS[0]]
    config = make_config(layers)
    assert env.load(legacy_save(config, layers, ["old:1"])) == ["Loaded image: old:1\n"]


def test_oci_layout(env: Env) -> None:
    config = make_config(LAYERS)
    data = oci_layout(
        config,
        LAYERS,
        {
            "io.containerd.image.name": "docker.io/library/ocitest:2",
            "org.opencontainers.image.ref.name": "2",
        },
    )
    assert env.load(data) == ["Loaded image: ocitest:2\n"]
    nested = oci_layout(config, LAYERS, {"org.opencontainers.image.ref.name": "x/y:z"}, True)
    assert env.load(nested) == ["Loaded image: x/y:z\n"]
    bare = oci_layout(config, LAYERS, {"org.opencontainers.image.ref.name": "latest"})
    assert env.load(bare) == [f"Loaded image ID: sha256:{sha(config)}\n"]


def test_progress_lines(env: Env) -> None:
    big = make_layer_tar({"big": os.urandom(300_000)})
    config = make_config([big])
    env.load(blobs_save([(config, [big], ["p:1"])]), quiet=False)
    progress = [json.loads(line) for line in env.lines if b"Loading layer" in line]
    assert progress, env.lines
    last = progress[-1]
    total = len(big)
    assert last["progressDetail"] == {"current": total, "total": total}
    assert last["id"] == sha(big)[:12]
    assert last["progress"].startswith("[" + "=" * 50 + ">] ")
    assert list(last) == ["status", "progressDetail", "progress", "id"]


def test_diff_id_mismatch_leaves_nothing(env: Env) -> None:
    config = make_config(LAYERS)
    wrong = [LAYERS[0], make_layer_tar({"evil": b"1"})]
    data = blobs_save([(config, wrong, ["bad:1"])])
    # blobs_save names blobs by content, so the manifest points at the wrong layer
    with pytest.raises(errdefs.InvalidParameter, match=r'invalid diffID for layer 1: expected "'):
        env.load(data)
    assert env.layers.layers == {}
    assert len(env.images) == 0
    with pytest.raises(errdefs.NotFound):
        env.refs.get(p("bad:1"))


def test_register_failure_releases(env: Env) -> None:
    env.layers.fail_register_after = 1
    with pytest.raises(errdefs.System):
        env.load(blobs_save([(make_config(LAYERS), LAYERS, [])]))
    assert env.layers.layers == {}


def test_path_escape_rejected(env: Env) -> None:
    config = make_config(LAYERS[:1])
    b = TarBuilder().file("c.json", config).file("layer.tar", LAYERS[0])
    manifest = [{"Config": "c.json", "RepoTags": [], "Layers": ["../layer.tar"]}]
    b.file("manifest.json", json.dumps(manifest).encode())
    with pytest.raises(errdefs.InvalidParameter, match="scope"):
        env.load(b.build())
    manifest = [{"Config": "../../etc/passwd", "RepoTags": [], "Layers": []}]
    b2 = TarBuilder().file("manifest.json", json.dumps(manifest).encode())
    with pytest.raises(errdefs.InvalidParameter, match="scope"):
        env.load(b2.build())


def test_symlink_cannot_escape(env: Env) -> None:
    config = make_config(LAYERS[:1])
    b = TarBuilder().file("c.json", config).symlink("l.tar", "../../../../etc/passwd")
    manifest = [{"Config": "c.json", "RepoTags": [], "Layers": ["l.tar"]}]
    b.file("manifest.json", json.dumps(manifest).encode())
    with pytest.raises(errdefs.InvalidParameter, match="no such file"):
        env.load(b.build())  # clamped to the archive root: etc/passwd is not in it
    loop = TarBuilder().symlink("a", "b").symlink("b", "a")
    loop.file("manifest.json", json.dumps([{"Config": "a", "Layers": []}]).encode())
    with pytest.raises(errdefs.InvalidParameter, match="too many links"):
        env.load(loop.build())


def test_manifest_errors(env: Env) -> None:
    with pytest.raises(errdefs.InvalidParameter, match="cannot be null"):
        parse_manifest_json(b"null")
    with pytest.raises(errdefs.InvalidParameter):
        parse_manifest_json(b'[{"Config": 1}]')
    assert parse_manifest_json(b"[]") == []
    with pytest.raises(errdefs.InvalidParameter, match="no such file"):
        env.load(TarBuilder().file("x", b"").build())
    config = make_config(LAYERS)
    b = TarBuilder().file("c", config)
    b.file("manifest.json", json.dumps([{"Config": "c", "Layers": []}]).encode())
    with pytest.raises(errdefs.InvalidParameter, match="layers length mismatch: expected 0, got 2"):
        env.load(b.build())
    with pytest.raises(errdefs.InvalidParameter, match='invalid tag "nope"'):
        env.load(blobs_save([(config, LAYERS, ["nope"])]))
    with pytest.raises(errdefs.InvalidParameter, match="invalid archive"):
        env.load(b"not a tar at all" * 100)
    win = make_config([], extra={"os": "windows"})
    b = TarBuilder().file("c", win)
    b.file("manifest.json", json.dumps([{"Config": "c", "Layers": []}]).encode())
    with pytest.raises(errdefs.InvalidParameter, match="cannot load windows image on linux"):
        env.load(b.build())


def test_parent_links(env: Env) -> None:
    hist1 = [{"created": "2024-01-01T00:00:00Z", "created_by": "a"}]
    hist2 = [*hist1, {"created": "2024-01-01T00:00:01Z", "created_by": "b"}]
    l1, l2 = LAYERS[:1], LAYERS
    c1 = make_config(l1, history=hist1)
    c2 = make_config(l2, history=hist2)
    data = blobs_save([(c1, l1, []), (c2, l2, [])])
    b = TarBuilder()
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        for m in t.getmembers():
            if m.name != "manifest.json":
                f = t.extractfile(m)
                assert f is not None
                b.file(m.name, f.read())
        f = t.extractfile("manifest.json")
        assert f is not None
        manifest = json.load(f)
    manifest[1]["Parent"] = f"sha256:{sha(c1)}"
    manifest[0]["Parent"] = "sha256:" + "9" * 64  # not in the archive: ignored
    b.file("manifest.json", json.dumps(manifest).encode())
    env.load(b.build())
    assert env.images.get_parent(f"sha256:{sha(c2)}") == f"sha256:{sha(c1)}"
    assert env.images.get_parent(f"sha256:{sha(c1)}") == ""


def test_deeply_nested_json_is_a_bad_archive(env: Env) -> None:
    """JSON nested past the recursion limit is refused as bad input, never a 500."""
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(errdefs.InvalidParameter, match=r"invalid manifest\.json"):
        env.load(TarBuilder().file("manifest.json", deep).build())
    config = b'{"rootfs": {"type": "layers"}, "x": ' + deep + b"}"
    manifest = [{"Config": "c.json", "RepoTags": [], "Layers": []}]
    b = TarBuilder().file("c.json", config).file("manifest.json", json.dumps(manifest).encode())
    with pytest.raises(errdefs.InvalidParameter):
        env.load(b.build())
