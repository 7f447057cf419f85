"""What the receiver reads off a request: headers straight from the WSGI environ, and whether a
body is JSON (simdjson first, the standard library's verdict for what simdjson refuses)."""
import json

import pytest
from hypothesis import given, settings, strategies as st
from werkzeug.datastructures import EnvironHeaders

from webhooks.receiver import RequestHeaders, _unreadable

ENVIRON = {"REQUEST_METHOD": "POST", "PATH_INFO": "/webhooks/shopify", "CONTENT_TYPE": "application/json",
           "CONTENT_LENGTH": "12", "HTTP_X_SHOPIFY_TOPIC": "orders/create",
           "HTTP_X_SHOPIFY_HMAC_SHA256": "abc=", "HTTP_X_WC_WEBHOOK_SOURCE": "https://winkel.example/",
           "wsgi.url_scheme": "http"}


@pytest.mark.parametrize("name", ["X-Shopify-Topic", "x-shopify-topic", "X-SHOPIFY-HMAC-SHA256", "X-WC-Webhook-Source",
                                  "Content-Type", "Content-Length", "X-Shopify-Webhook-Id", "Path-Info"])
def test_headers_answer_as_werkzeug_does(name):
    ours, theirs = RequestHeaders(ENVIRON), EnvironHeaders(ENVIRON)
    assert ours.get(name) == theirs.get(name)
    assert (name in ours) == (name in theirs)
    if theirs.get(name) is None:
        with pytest.raises(KeyError):
            ours[name]
    else:
        assert ours[name] == theirs[name]


def test_headers_list_the_request_headers_only():
    assert sorted(RequestHeaders(ENVIRON)) == sorted(k for k, _ in EnvironHeaders(ENVIRON).items())
    assert len(RequestHeaders(ENVIRON)) == 5


@pytest.mark.parametrize("raw", [b'{"id": 1}', b'{"id": 123456789012345678901234567890}', b'{"x": NaN}',
                                 b'[1, 2.5e400]', b'"\\ud800"'])
def test_json_the_standard_library_reads_is_json(raw):
    assert _unreadable(raw) is None


@pytest.mark.parametrize("raw", [b"", b"{", b'{"id": 1}}', b"webhook_id=5", b'{"a": "\xff"}',
                                 b"[" * 100_000 + b"]" * 100_000])
def test_broken_bodies_say_why(raw):
    assert _unreadable(raw).startswith("body is not JSON: ")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


def _mutated(data) -> bytes:  # noqa: ANN001
    """JSON text (NaN and lone surrogates included), sometimes with a few bytes changed."""
    text = data.draw(_json_values.map(lambda v: json.dumps(v, ensure_ascii=data.draw(st.booleans()))))
    raw = bytearray(text.encode("utf-8", "surrogatepass"))
    for _ in range(data.draw(st.integers(0, 3))):
        if raw:
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    return bytes(raw)


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_a_body_is_json_exactly_when_the_standard_library_reads_it(data):
    """The fast check may refuse more than the standard library, never accept more: the applier
    reads bodies with the standard library."""
    raw = _mutated(data)
    try:
        json.loads(raw)
        readable = True
    except (ValueError, RecursionError):
        readable = False
    assert (_unreadable(raw) is None) == readable
