"""The layer-store Protocol is met by the test double and, statically, by berthd.layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from berthd.image.layer_protocol import LayerStore

from .fakes import FakeLayerStore

if TYPE_CHECKING:  # checked by mypy only: berthd.image never imports berthd.layer
    from berthd.layer.store import LayerStore as RealLayerStore

    def _real_store_fits(real: RealLayerStore) -> LayerStore:
        return real


def test_fake_satisfies_protocol() -> None:
    store: LayerStore = FakeLayerStore()
    assert isinstance(store, FakeLayerStore)  # the annotation is what mypy checks
