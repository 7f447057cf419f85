"""shopify.app.toml from manifest.json: what the app declares to Shopify, written from one source.

`kompas shopify toml` prints or writes it; a test reads it back with tomllib and compares it
with the manifest and the code's topic tables. Key names follow Shopify CLI's schema
(shopify.md §6.2).
"""
from __future__ import annotations

import json
from typing import Any


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(value)  # a TOML basic string is a JSON string for these values


def render(manifest: dict, *, client_id: str, application_url: str) -> str:
    """The TOML text. `application_url` is Kompas' public https URL. Webhook URIs are written in
    full: Shopify would hang a relative one off the app's URL, which is the panel's (/panel/)."""
    shopify = manifest["platforms"]["shopify"]
    base = application_url.rstrip("/")
    lines = [
        "# Written by `kompas shopify toml` from manifest.json: edit the manifest, not this file.",
        f"client_id = {_value(client_id)}",
        f"name = {_value(manifest['name'])}",
        f"application_url = {_value(base + shopify['panel']['path'] + '/')}",
        f"embedded = {_value(shopify['embedded'])}",
        "",
        "[access_scopes]",
        f"scopes = {_value(','.join(shopify['access_scopes']))}",
        "use_legacy_install_flow = false",
        "",
        "[auth]",
        f"redirect_urls = {_value([base + '/auth/callback'])}",
        "",
        "[webhooks]",
        f"api_version = {_value(shopify['api_version'])}",
        "",
        "  [[webhooks.subscriptions]]",
        f"  topics = {_value(sorted(shopify['webhooks']['topics']) + shopify['webhooks']['lifecycle_topics'])}",
        f"  uri = {_value(base + shopify['webhooks']['uri'])}",
        "",
        "  [[webhooks.subscriptions]]",
        f"  compliance_topics = {_value(shopify['webhooks']['compliance_topics'])}",
        f"  uri = {_value(base + shopify['webhooks']['uri'])}",
        "",
        "[build]",
        "include_config_on_deploy = true",
        "",
    ]
    return "\n".join(lines)
