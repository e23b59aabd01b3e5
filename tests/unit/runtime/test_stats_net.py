from __future__ import annotations

from berthd.runtime.stats import parse_net_dev

NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
  eth0:    5000      40    1    2    0     0          0         0     7000      50    3    4    0     0       0          0
"""


def test_net_dev_gives_dockerd_networks_without_lo() -> None:
    assert parse_net_dev(NET_DEV) == {
        "eth0": {
            "rx_bytes": 5000,
            "rx_packets": 40,
            "rx_errors": 1,
            "rx_dropped": 2,
            "tx_bytes": 7000,
            "tx_packets": 50,
            "tx_errors": 3,
            "tx_dropped": 4,
        }
    }
    assert parse_net_dev("") == {}
