"""Outbound HTTP to hosts that someone outside Kompas names: a WooCommerce store's URL (anyone may
start a connect), an alert channel's Slack or webhook URL (a merchant types it). Such calls go to
public addresses only, or Kompas would call its own network's services for them (server-side
request forgery: a database's HTTP port, a cloud's metadata service at 169.254.169.254).

`private_address` checks a name before a call, to refuse it with a clear message. That alone leaves
a gap: a DNS server the attacker runs can answer a public address to the check and 127.0.0.1 to the
connection a moment later (DNS rebinding). `public_session` closes it: its connections resolve the
name once, refuse it when any address is not public, and connect to exactly the addresses checked.
TLS still verifies the certificate against the name.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection


_NAT64 = ipaddress.ip_network("64:ff9b::/96")           # RFC 6052: the IPv4 address is the last 32 bits
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")   # RFC 8215: a network's own translator, any layout


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for on the way (mapped, 6to4, Teredo, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why Kompas must not call `address`, or None: on a private network, the machine itself,
    link-local, reserved or multicast, also where an IPv6 address carries such an IPv4 address
    that a translator on the way turns it back into (Python calls 64:ff9b::a9fe:a9fe global; behind
    DNS64/NAT64 it reaches 169.254.169.254)."""
    if not address.is_global or address.is_multicast:
        return f"not a public address ({address})"
    if isinstance(address, ipaddress.IPv6Address):
        if address in _LOCAL_NAT64:
            return f"not a public address ({address}: a local NAT64 translator)"
        inner = _embedded_ipv4(address)
        if inner is not None and (not inner.is_global or inner.is_multicast):
            return f"not a public address ({address} carries {inner})"
    return None


def _first_refusal(addresses: list) -> str | None:
    """Why Kompas must not call the first of `addresses` it must not call, or None."""
    return next((problem for problem in map(refusal, addresses) if problem), None)


def _ip(sockaddr_host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(str(sockaddr_host).split("%")[0])   # an IPv6 scope ("fe80::1%eth0") is no address part


def private_address(host: str) -> str | None:
    """What makes `host` an address Kompas must never call, or None, as given or as it resolves now.
    A name that does not resolve passes: the call fails anyway."""
    name = host.strip("[]")
    try:
        addresses = [ipaddress.ip_address(name)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(name, 443, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return None
        addresses = [_ip(info[4][0]) for info in infos]
    problem = _first_refusal(addresses)
    return None if problem is None else f"{host} is {problem}"


class _PublicOnly:
    """urllib3 connection part: one lookup per connection, every address it gives checked, and the
    socket connected to those very addresses (the stock connection would look the name up again)."""

    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        try:
            infos = socket.getaddrinfo(self._dns_host, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        addresses = list(dict.fromkeys(_ip(info[4][0]) for info in infos))
        problem = _first_refusal(addresses)
        if problem is not None:
            raise NewConnectionError(self, f"{self.host} is {problem}: Kompas does not call it")  # type: ignore[arg-type]
        failure: OSError | None = None
        for address in addresses:
            try:
                return connection.create_connection((str(address), self.port), self.timeout,
                                                    source_address=self.source_address,
                                                    socket_options=self.socket_options)
            except socket.timeout as exc:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
            except OSError as exc:
                failure = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {failure}")  # type: ignore[arg-type]


class _PublicHTTPConnection(_PublicOnly, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicOnly, HTTPSConnection):
    pass


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PublicHTTPPool, "https": _PublicHTTPSPool}


def public_session() -> requests.Session:
    """A requests session that connects to public addresses only (redirects included: they go
    through the same connections). It ignores proxy settings from the environment, as a proxy
    would make the connection instead and the check would not apply."""
    session = requests.Session()
    session.trust_env = False
    adapter = _PublicAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
