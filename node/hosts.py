"""Host names the node may bind without a bearer token: loopback only."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """True for "localhost" and loopback IP literals (127.0.0.0/8, ::1); never raises."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
