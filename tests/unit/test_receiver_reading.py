"""What the receiver reads off a request: headers straight from the WSGI environ, and whether a
body is JSON (orjson first, the standard library's verdict for what orjson refuses)."""
import pytest
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


@pytest.mark.parametrize("raw", [b"", b"{", b'{"id": 1}}', b"webhook_id=5", b'{"a": "\xff"}'])
def test_broken_bodies_say_why(raw):
    assert _unreadable(raw).startswith("body is not JSON: ")
