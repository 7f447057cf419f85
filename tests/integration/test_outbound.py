"""Outbound calls to hosts that others name (plugin.outbound), over real sockets on this machine:
a name is looked up once per connection, every address it gives is checked, and the socket goes to
exactly those addresses, so a DNS answer that changes between the check and the connection (DNS
rebinding) cannot make Kompas call its own network."""
from __future__ import annotations

import http.server
import ipaddress
import socket
import threading

import pytest
import requests

from plugin import outbound
from plugin.woocommerce.client import WooClient, WooError

PUBLIC = "93.184.216.34"   # a global address; nothing here connects to it


@pytest.fixture
def listener():
    """A TCP listener on 127.0.0.1 that records every connection made to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    accepted = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn)
            conn.close()

    stop = threading.Event()
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


@pytest.fixture
def web_server():
    """A real HTTP server on 127.0.0.1 answering 200 "hello" to every GET."""
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def resolver(monkeypatch, answers: dict[str, list[str]]) -> list[str]:
    """Make socket.getaddrinfo answer `answers[name]` one lookup after another (the last one
    repeats); returns the names looked up, in order."""
    real = socket.getaddrinfo
    looked_up: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if host not in answers:
            return real(host, port, *args, **kwargs)
        looked_up.append(host)
        address = answers[host][min(len(looked_up) - 1, len(answers[host]) - 1)]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port or 0)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


def test_a_public_session_does_not_connect_to_loopback(listener):
    port, accepted = listener
    with pytest.raises(requests.ConnectionError, match="not a public address"):
        outbound.public_session().get(f"http://127.0.0.1:{port}/", timeout=5)
    assert accepted == []


def test_a_store_name_that_rebinds_to_loopback_after_the_check_is_never_connected_to(listener, monkeypatch):
    """The check before the call sees a public address; the connection's own lookup gets 127.0.0.1.
    Kompas must not connect (before plugin.outbound, it did: the check and the connection each
    looked the name up)."""
    port, accepted = listener
    resolver(monkeypatch, {"store.example": [PUBLIC, "127.0.0.1"]})
    client = WooClient(f"https://store.example:{port}", "ck_x", "cs_y", attempts=1, timeout=5)
    with pytest.raises(WooError, match="not a public address"):
        client.get("wc/v3/system_status")
    assert accepted == []


def test_an_alert_webhook_whose_name_rebinds_is_never_connected_to(listener, monkeypatch):
    from plugin.alerts.channels import send_webhook

    port, accepted = listener
    resolver(monkeypatch, {"hooks.example": [PUBLIC, "127.0.0.1"]})
    assert outbound.private_address("hooks.example") is None   # what the panel saw when the channel was saved
    with pytest.raises(requests.ConnectionError):
        send_webhook(f"http://hooks.example:{port}/alert", "secret", b"{}", "key-1")
    assert accepted == []


def test_a_connection_goes_to_the_very_address_that_was_checked(web_server, monkeypatch):
    """One lookup per connection, and the socket goes where it said: a second lookup (which would
    answer 127.0.0.2, where nothing listens) is never made. Loopback is let through for this test
    only, as it is all this machine has."""
    monkeypatch.setattr(outbound, "refusal", lambda address: None)
    looked_up = resolver(monkeypatch, {"store.example": ["127.0.0.1", "127.0.0.2"]})
    answer = outbound.public_session().get(f"http://store.example:{web_server}/", timeout=5)
    assert (answer.status_code, answer.text) == (200, "hello")
    assert looked_up == ["store.example"]


@pytest.mark.parametrize("address,refused", [("93.184.216.34", False), ("2606:2800:220:1:248:1893:25c8:1946", False),
                                             ("127.0.0.1", True), ("10.1.2.3", True), ("169.254.169.254", True),
                                             ("::1", True), ("fd00::1", True), ("224.0.0.1", True), ("0.0.0.0", True),
                                             ("100.64.0.1", True),
                                             ("64:ff9b::5db8:d822", False),   # NAT64 of 93.184.216.34: public
                                             ("::ffff:10.0.0.1", True), ("2001:0:4136:e378:8000:63bf:f5ff:fffe", True)])
def test_which_addresses_are_public(address, refused):
    import ipaddress

    assert (outbound.refusal(ipaddress.ip_address(address)) is not None) is refused


# IPv6 addresses that are "global" to Python 3.11's ipaddress but carry an IPv4 address that a
# translator on the path turns back into it: NAT64 (RFC 6052 well-known prefix 64:ff9b::/96 and
# RFC 8215 local-use 64:ff9b:1::/48) and 6to4 (2002::/16). On an IPv6-only host behind DNS64/NAT64
# (a common cloud set-up) an attacker's AAAA answer 64:ff9b::a9fe:a9fe reaches 169.254.169.254,
# and 64:ff9b::a00:1 reaches 10.0.0.1.
EMBEDDED_PRIVATE = ["64:ff9b::a9fe:a9fe", "64:ff9b::a00:1", "64:ff9b::7f00:1", "64:ff9b:1::a00:1",
                    "2002:a9fe:a9fe::1", "2002:a00:1::1"]


@pytest.mark.parametrize("address", EMBEDDED_PRIVATE)
def test_outbound_refuses_ipv6_addresses_that_embed_a_private_ipv4_address(address):
    assert outbound.refusal(ipaddress.ip_address(address)) is not None


def test_a_public_session_does_not_connect_to_a_nat64_address_of_the_metadata_service(monkeypatch):
    """The name resolves (AAAA only) to the metadata service through NAT64: the adapter must refuse
    it before connecting, as it refuses 169.254.169.254 itself."""
    real = socket.getaddrinfo
    connected: list = []

    def getaddrinfo(host, port, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("64:ff9b::a9fe:a9fe", int(port or 0), 0, 0))]

    def create_connection(address, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        connected.append(address)
        raise OSError("no route in this test")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(outbound.connection, "create_connection", create_connection)
    with pytest.raises(requests.ConnectionError, match="not a public address"):
        outbound.public_session().get("http://rebind.example/latest/meta-data/", timeout=5)
    assert connected == []
    assert outbound.private_address("rebind.example") is not None   # the panel's check of an alert URL
