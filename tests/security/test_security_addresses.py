"""Client address keys: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64."""

from __future__ import annotations

import pytest

from veronica.security.addresses import address_key


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("127.0.0.1", "127.0.0.1"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("::ffff:cb00:7107", "203.0.113.7"),  # the same mapped address, hex form
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:a1b2:c3d4:e5f6:789", "2001:db8:1:2::/64"),
        ("2001:0DB8:0001:0002:0000:0000:0000:0001", "2001:db8:1:2::/64"),
        ("::1", "::/64"),
        ("fe80::1%eth0", "fe80::/64"),
    ],
)
def test_address_keys(ip: str, key: str) -> None:
    assert address_key(ip) == key


def test_one_ipv6_subscriber_is_one_key() -> None:
    """Privacy addresses of one /64 (RFC 4941) all share a key; the next /64 does not."""
    same = {address_key(f"2001:db8:aa:bb:{i:x}:{i * 7:x}:{i * 13:x}:1") for i in range(1, 200)}
    assert same == {"2001:db8:aa:bb::/64"}
    assert address_key("2001:db8:aa:bc::1") == "2001:db8:aa:bc::/64"


@pytest.mark.parametrize(
    "value",
    ["testclient", "unknown", "", "[2001:db8::1]", "203.0.113.7:443", "1.2.3.256", "01.2.3.4"],
)
def test_unparsable_values_are_returned_as_is(value: str) -> None:
    assert address_key(value) == value
