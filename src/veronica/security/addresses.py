"""Client address keys for per-address limits (rate limits, lockout, concurrency caps).

An IPv4 address is one key. An IPv6 address is not: an ISP hands one subscriber a
whole /64 (often a /56 or /48), and the host picks the low 64 bits freely (RFC
4941 privacy addresses change every few hours), so keying by the full address
would give one user 2^64 keys and every per-address limit would be void. The /64
is the smallest block that is always one subscriber's (RFC 6177, RFC 7421).
"""

from __future__ import annotations

import ipaddress

IPV6_PREFIX_BITS = 64
"""One subscriber's LAN; shorter prefixes would pool unrelated users of one ISP."""

_IPV6_MASK = ((1 << IPV6_PREFIX_BITS) - 1) << (128 - IPV6_PREFIX_BITS)


def address_key(ip: str) -> str:
    """The limit key for a client address.

    IPv4 as is (normalised, ``1.2.3.4``); an IPv4-mapped IPv6 address
    (``::ffff:1.2.3.4``, what a dual-stack socket reports for IPv4 clients) as that
    IPv4 address; any other IPv6 address as its /64 (``2001:db8:1:2::/64``; a zone
    id such as ``%eth0`` is dropped). Anything that is not an IP address
    (``testclient``, ``unknown``, a Unix socket path) is returned unchanged.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    network = ipaddress.IPv6Network((int(address) & _IPV6_MASK, IPV6_PREFIX_BITS))
    return str(network)
