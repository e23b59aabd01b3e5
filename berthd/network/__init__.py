"""Docker's network model (networks, endpoints, IPAM) and the netavark driver.

berthd owns the model — which networks exist, which container has which
address — and netavark + aardvark-dns apply it to the kernel.
"""

from __future__ import annotations

from berthd.network.ipam import AddressPool, allocate_address, choose_subnet, parse_pool
from berthd.network.model import Endpoint, Network
from berthd.network.netavark import Netavark, NetavarkSettings
from berthd.network.store import NetworkStore

__all__ = [
    "AddressPool",
    "Endpoint",
    "Netavark",
    "NetavarkSettings",
    "Network",
    "NetworkStore",
    "allocate_address",
    "choose_subnet",
    "parse_pool",
]
