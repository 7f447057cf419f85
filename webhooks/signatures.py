"""HMAC-SHA256 signatures of webhook bodies, base64-encoded, as Shopify and WooCommerce send them."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Iterable


class SignatureError(Exception):
    """The delivery is not signed by any of the accepted secrets (or carries no signature)."""


def sign(raw: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, raw)): the header value a platform sends for `raw`."""
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def verify_hmac_sha256_base64(raw: bytes, header: str | None, secrets: Iterable[str]) -> None:
    """Accept `raw` if `header` is its signature under any of `secrets` (old and new during a
    rotation); raise SignatureError otherwise. Compares digests in constant time, and turns every
    malformed header into SignatureError rather than letting a decoding error escape."""
    if not header:
        raise SignatureError("missing signature")
    try:
        given = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("signature is not base64") from exc
    matched = False
    for secret in secrets:
        if not secret:
            continue
        expected = hmac.new(secret.encode(), raw, hashlib.sha256).digest()
        # no early exit: every secret is tried, so timing does not say which one matched
        matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise SignatureError("signature does not match")
