"""The WordPress plugin (wordpress/kompas): PHP syntax, its PHPUnit tests, its translations, and
the cross-language contract: a panel token the plugin's PHP mints is accepted by Kompas, a
tampered, expired or other-site one is refused; a cart event it signs passes the receiver.

PHP and PHPUnit are Debian's packages, installed here when missing (as the browser tests install
Chromium): these tests never skip."""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from plugin.credentials import save_credential
from plugin.models import EntityState
from plugin.shops import add_shop
from plugin.woocommerce.auth import PANEL_CREDENTIAL, WordPressTokenError, verify_wordpress_token
from tests.helpers import WOO_SECRET, WOO_SITE

PLUGIN = Path(__file__).resolve().parents[2] / "wordpress" / "kompas"
PANEL_SECRET = "panel-secret-of-winkel-0123456789abcdefghijklmnop"
DEBIAN_PACKAGES = {"php": "php-cli", "phpunit": "phpunit", "msgfmt": "gettext", "xgettext": "gettext"}


@pytest.fixture(scope="session")
def tools():
    """php, phpunit and gettext from Debian, installed when missing."""
    missing = sorted({package for tool, package in DEBIAN_PACKAGES.items() if not shutil.which(tool)})
    if missing:
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.fail("Debian's packages are needed: apt-get install -y " + " ".join(missing))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
    return {tool: shutil.which(tool) for tool in DEBIAN_PACKAGES}


def run(*args: str, cwd: Path = PLUGIN) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=120)


def test_every_php_file_parses(tools):
    files = sorted(PLUGIN.rglob("*.php"))
    assert len(files) >= 8
    for path in files:
        result = run(tools["php"], "-l", str(path))
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_plugins_phpunit_tests_pass(tools):
    result = run(tools["phpunit"], "--configuration", "phpunit.xml.dist")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK (" in result.stdout


def test_the_dutch_translation_is_complete_and_compiled(tools, tmp_path):
    languages = PLUGIN / "languages"
    po, mo = languages / "kompas-nl_NL.po", languages / "kompas-nl_NL.mo"
    stats = run(tools["msgfmt"], "--check", "--statistics", "-o", str(tmp_path / "nl.mo"), str(po))
    assert stats.returncode == 0, stats.stderr
    assert "untranslated" not in stats.stderr and "fuzzy" not in stats.stderr, stats.stderr
    assert (tmp_path / "nl.mo").read_bytes() == mo.read_bytes(), "kompas-nl_NL.mo is older than its .po: run msgfmt"
    # the template holds exactly the code's strings
    fresh = tmp_path / "kompas.pot"
    sources = ["kompas.php", *sorted(str(p.relative_to(PLUGIN)) for p in (PLUGIN / "includes").glob("*.php"))]
    keywords = [f"--keyword={k}" for k in ("__", "_e", "esc_html__", "esc_html_e", "esc_attr__", "esc_attr_e")]
    result = run(tools["xgettext"], "--language=PHP", "--from-code=UTF-8", *keywords, "-o", str(fresh), *sources)
    assert result.returncode == 0, result.stderr

    def msgids(path: Path) -> set[str]:
        """Every msgid, continuation lines joined (a long one is `msgid ""` and then its lines)."""
        found, current = set(), None
        for line in path.read_text().splitlines():
            if line.startswith('msgid "'):
                current = line[7:-1]
            elif current is not None and line.startswith('"'):
                current += line[1:-1]
            else:
                if current:
                    found.add(current)
                current = None
        if current:
            found.add(current)
        return found
    assert msgids(fresh) <= msgids(languages / "kompas.pot") | {""}
    assert msgids(languages / "kompas.pot") <= msgids(po)


# --- the cross-language contract ----------------------------------------------------------------

def php_token(tools, site: str, user: int, secret: str, now: int, lifetime: int = 60) -> str:
    result = run(tools["php"], "tests/mint.php", site, str(user), secret, str(now), str(lifetime))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def connected(app, db):
    with db.transaction() as session:
        shop = add_shop(session, platform="woocommerce", domain=WOO_SITE, timezone_name="Europe/Amsterdam",
                        currency="EUR", webhook_secret=WOO_SECRET)
        save_credential(session, app.extensions["kompas.vault"], shop.id, PANEL_CREDENTIAL, {"secret": PANEL_SECRET})
    return app


def test_a_token_the_plugin_minted_opens_the_panel(tools, connected, client):
    token = php_token(tools, WOO_SITE + "/", 7, PANEL_SECRET, int(time.time()))
    answer = client.get("/api/kpis?from=2026-03-01&to=2026-03-31", headers={"Authorization": "Bearer " + token})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["shop"] == WOO_SITE
    page = client.get("/panel/", query_string={"id_token": token})
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"] == "frame-ancestors https://winkel.example;"


def test_tampered_expired_and_other_site_tokens_from_the_plugin_are_refused(tools, connected, client):
    secret_of = {WOO_SITE: PANEL_SECRET}.get
    now = int(time.time())
    good = php_token(tools, WOO_SITE, 7, PANEL_SECRET, now)
    assert verify_wordpress_token(good, secret_of).user == "7"
    header, claims, signature = good.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    decoded["sub"] = "1"  # an administrator, perhaps
    forged_claims = base64.urlsafe_b64encode(json.dumps(decoded).encode()).decode().rstrip("=")
    refused = {
        "tampered": f"{header}.{forged_claims}.{signature}",
        "expired": php_token(tools, WOO_SITE, 7, PANEL_SECRET, now - 3600),
        "other site": php_token(tools, "https://other.example", 7, PANEL_SECRET, now),
        "other secret": php_token(tools, WOO_SITE, 7, "the-secret-of-some-other-shop-0123456789", now),
    }
    for name, token in refused.items():
        with pytest.raises(WordPressTokenError):
            verify_wordpress_token(token, secret_of)
        answer = client.get("/api/kpis?from=2026-03-01&to=2026-03-31", headers={"Authorization": "Bearer " + token})
        assert answer.status_code == 401, name


def test_the_plugin_cannot_mint_a_token_longer_than_a_minute(tools):
    token = php_token(tools, WOO_SITE, 7, PANEL_SECRET, int(time.time()), lifetime=3600)
    session = verify_wordpress_token(token, {WOO_SITE: PANEL_SECRET}.get)
    assert session.shop == WOO_SITE


def test_a_cart_event_the_plugin_signed_passes_the_receiver(tools, connected, client, db):
    body = json.dumps({"token": "0123456789abcdef0123456789abcdef", "event": "created",
                       "created_at": "2026-03-06T14:50:00Z", "updated_at": "2026-03-06T14:50:00Z", "item_count": 2},
                      separators=(",", ":"))
    code = ("require 'tests/bootstrap.php'; echo Kompas_Token::sign(stream_get_contents(STDIN), $argv[1]);")
    signed = subprocess.run([tools["php"], "-r", code, WOO_SECRET], cwd=PLUGIN, input=body, capture_output=True,
                            text=True, timeout=60)
    assert signed.returncode == 0, signed.stderr
    headers = {"Content-Type": "application/json", "X-WC-Webhook-Source": WOO_SITE + "/",
               "X-WC-Webhook-Topic": "cart.created", "X-WC-Webhook-Signature": signed.stdout.strip(),
               "X-WC-Webhook-Delivery-ID": "1"}
    answer = client.post("/webhooks/woocommerce", data=body.encode(), headers=headers)
    assert answer.status_code == 200 and answer.get_json()["status"] == "processed"
    with db.reading() as session:
        token = "0123456789abcdef0123456789abcdef"
        assert session.scalar(select(EntityState.kind).where(EntityState.key == token)) == "cart"
