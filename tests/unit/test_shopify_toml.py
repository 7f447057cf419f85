"""shopify.app.toml is written from manifest.json and says what the code handles."""
import json
import tomllib
from pathlib import Path

from plugin.shopify.lifecycle import COMPLIANCE_TOPICS, UNINSTALLED
from plugin.shopify.toml import render
from webhooks.platforms import shopify as shopify_adapter

MANIFEST = json.loads((Path(__file__).parents[2] / "manifest.json").read_text())


def _toml() -> dict:
    return tomllib.loads(render(MANIFEST, client_id="abc123", application_url="https://kompas.example/"))


def test_the_toml_declares_the_manifest():
    toml, shopify = _toml(), MANIFEST["platforms"]["shopify"]
    assert toml["client_id"] == "abc123" and toml["name"] == MANIFEST["name"]
    assert toml["embedded"] is True
    assert toml["application_url"] == "https://kompas.example/panel/"
    assert toml["auth"]["redirect_urls"] == ["https://kompas.example/auth/callback"]
    assert toml["access_scopes"]["scopes"].split(",") == shopify["access_scopes"]
    assert "read_all_orders" in shopify["access_scopes"]
    assert toml["webhooks"]["api_version"] == shopify["api_version"]
    topics, compliance = toml["webhooks"]["subscriptions"]
    assert sorted(topics["topics"]) == sorted(shopify["webhooks"]["topics"] + shopify["webhooks"]["lifecycle_topics"])
    assert compliance["compliance_topics"] == shopify["webhooks"]["compliance_topics"]
    assert topics["uri"] == compliance["uri"] == "https://kompas.example/webhooks/shopify"


def test_the_manifest_declares_what_the_code_handles():
    webhooks = MANIFEST["platforms"]["shopify"]["webhooks"]
    assert sorted(webhooks["topics"]) == sorted(shopify_adapter.TOPICS)
    assert webhooks["lifecycle_topics"] == [UNINSTALLED]
    assert tuple(webhooks["compliance_topics"]) == COMPLIANCE_TOPICS


def test_kompas_shopify_toml_writes_the_file(runner, tmp_path):
    from plugin.cli import main

    out = tmp_path / "shopify.app.toml"
    result = runner.invoke(main, ["shopify", "toml", "--client-id", "abc123", "--url", "https://kompas.example",
                                  "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert tomllib.loads(out.read_text())["client_id"] == "abc123"
    refused = runner.invoke(main, ["shopify", "toml", "--client-id", "x", "--url", "http://insecure.example"])
    assert refused.exit_code != 0 and "https" in refused.output
    assert runner.invoke(main, ["shopify", "toml", "--client-id", "x", "--url", "https://"]).exit_code == 1
    nowhere = runner.invoke(main, ["shopify", "toml", "--client-id", "x", "--url", "https://k.example",
                                   "-o", str(tmp_path / "no" / "such" / "dir.toml")])
    assert nowhere.exit_code == 1 and "cannot write" in nowhere.output
