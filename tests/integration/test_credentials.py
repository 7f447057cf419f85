"""Tokens are stored sealed: the database holds no readable secret, keys rotate, tampering fails."""
import os
import stat

import pytest
from sqlalchemy import select, text

from plugin.credentials import (CredentialError, Vault, drop_credentials, instance_keys, load_credential,
                                save_credential)
from plugin.models import ShopCredential
from tests.helpers import OLD_SECRET_KEY, SECRET_KEY


def test_a_credential_is_stored_sealed_and_opens_again(app, db, shopify_shop):
    vault = app.extensions["kompas.vault"]
    token = {"access_token": "shpat_0123456789abcdef", "refresh_token": "shprt_fedcba"}
    with db.transaction() as session:
        save_credential(session, vault, shopify_shop.id, "shopify_offline", token)
    with db.reading() as session:
        sealed = session.scalar(select(ShopCredential.sealed))
        assert "shpat_" not in sealed and "shprt_" not in sealed
        assert load_credential(session, vault, shopify_shop.id, "shopify_offline") == token
        assert load_credential(session, vault, shopify_shop.id, "woocommerce_rest") is None
    with db.transaction() as session:
        assert drop_credentials(session, shopify_shop.id) == 1
    with db.reading() as session:
        assert load_credential(session, vault, shopify_shop.id, "shopify_offline") is None


def test_keys_rotate_newest_first():
    sealed_with_old = Vault([OLD_SECRET_KEY]).seal({"k": "v"})
    rotated = Vault([SECRET_KEY, OLD_SECRET_KEY])
    assert rotated.open(sealed_with_old) == {"k": "v"}
    assert Vault([SECRET_KEY]).open(rotated.seal({"k": "w"})) == {"k": "w"}
    with pytest.raises(CredentialError):
        Vault([SECRET_KEY]).open(sealed_with_old)


def test_a_tampered_credential_is_refused():
    vault = Vault([SECRET_KEY])
    sealed = vault.seal({"k": "v"})
    tampered = sealed[:20] + ("A" if sealed[20] != "A" else "B") + sealed[21:]
    with pytest.raises(CredentialError):
        vault.open(tampered)


def test_a_key_that_is_not_a_fernet_key_is_a_clear_error():
    with pytest.raises(ValueError, match="KOMPAS_SECRET_KEY"):
        Vault(["not-a-key"])


def test_the_development_key_is_made_once_and_private(tmp_path):
    first = instance_keys(str(tmp_path))
    assert instance_keys(str(tmp_path)) == first
    assert stat.S_IMODE(os.stat(tmp_path / "secret.key").st_mode) == 0o600
    assert Vault(first).open(Vault(first).seal({"a": 1})) == {"a": 1}


def test_processes_starting_at_once_on_a_fresh_instance_folder_share_one_key(tmp_path):
    """gunicorn's workers (or the suite's spawned processes) start together on a fresh clone: each
    looked, found no key, and all but one failed with FileExistsError (seen on a clean clone's CI).
    Eight processes start at once here; every one gets the same, complete key."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Pool(8) as pool:
        keys = pool.map(instance_keys, [str(tmp_path)] * 8)
    assert len({tuple(k) for k in keys}) == 1 and len(keys[0][0]) == 44
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.key"]   # no draft left behind


def test_a_process_that_finds_no_key_but_loses_the_race_reads_the_winners(tmp_path, monkeypatch):
    """The same race made certain: the second call also believes there is no key yet."""
    from plugin import sealed

    first = instance_keys(str(tmp_path))
    monkeypatch.setattr(sealed.os.path, "exists", lambda path: False)
    assert instance_keys(str(tmp_path)) == first


def test_a_woocommerce_webhook_secret_is_stored_sealed_and_still_verifies_deliveries(db, send, woo_shop):
    from plugin.demo import order_payload  # noqa: F401  (the receiver path is what is under test)
    from plugin.models import Shop

    with db.reading() as session:
        raw = session.execute(text("SELECT webhook_secret FROM shops WHERE id = :id"), {"id": woo_shop.id}).scalar()
        assert raw.startswith("gAAAAA") and "wc-secret" not in raw
        assert session.get(Shop, woo_shop.id).webhook_secret == "wc-secret-AbC123xyz"
    assert send("woocommerce", "order.updated", {"id": 1}, secret="wc-secret-AbC123xyz").status_code != 401
    assert send("woocommerce", "order.updated", {"id": 1}, secret="not-it").status_code == 401


def test_a_secret_written_before_sealing_still_reads(db, woo_shop):
    from webhooks.store import shop_secret

    with db.transaction() as session:  # as an older Kompas stored it: plain text
        session.execute(text("UPDATE shops SET webhook_secret = 'plain-old-secret' WHERE id = :id"), {"id": woo_shop.id})
    assert shop_secret(db, "woocommerce", woo_shop.domain) == (woo_shop.id, "plain-old-secret")


def test_the_development_key_is_made_on_a_filesystem_without_hard_links(tmp_path, monkeypatch):
    """From a second look: os.link fails with EPERM/EOPNOTSUPP on file systems without hard links
    (vfat, VirtualBox shared folders, SMB without unix extensions); the key is then created
    exclusively in place, as before the link."""
    import errno

    from plugin import sealed

    def no_links(src, dst, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise OSError(errno.EPERM, "Operation not permitted", dst)

    monkeypatch.setattr(sealed.os, "link", no_links)
    keys = sealed.instance_keys(str(tmp_path))
    assert len(keys) == 1 and len(keys[0]) == 44
    assert sealed.instance_keys(str(tmp_path)) == keys
