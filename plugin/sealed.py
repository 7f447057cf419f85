"""Sealing secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) through
MultiFernet, so keys rotate: KOMPAS_SECRET_KEY holds one or more Fernet keys, comma separated,
newest first; the newest seals, every one of them opens. A database dump alone reveals no token.

Without KOMPAS_SECRET_KEY (a laptop, the demo) the app makes a key once and keeps it in the
instance folder (`secret.key`, mode 0600); production sets the variable.

`Vault` seals values; `SealedText` is a column type that is sealed on write and opened on read
(with the vault create_app registers for the process).
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import String, TypeDecorator


class CredentialError(Exception):
    """A sealed secret cannot be opened (wrong or rotated-away key, or tampered data)."""


class Vault:
    """Seals and opens JSON objects with the configured keys."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("a Vault needs at least one Fernet key")
        try:
            self._fernet = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
        except ValueError as exc:
            raise ValueError(f"KOMPAS_SECRET_KEY holds a key that is not a Fernet key: {exc}") from exc

    def seal(self, data: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(data, sort_keys=True).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        return json.loads(self.open_text(token))

    def seal_text(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def open_text(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise CredentialError("sealed with a key Kompas does not have, or altered") from exc


# The vault of this process, for columns that are sealed as they are written (SealedText). Set by
# create_app from KOMPAS_SECRET_KEY: a key, like any setting, not state.
_COLUMN_VAULT: list[Vault] = []


def use_for_columns(vault: Vault) -> None:
    _COLUMN_VAULT[:] = [vault]


def _column_vault() -> Vault:
    if not _COLUMN_VAULT:
        raise CredentialError("no KOMPAS_SECRET_KEY vault: create the app before touching sealed columns")
    return _COLUMN_VAULT[0]


class SealedText(TypeDecorator):
    """A text column stored sealed (a shop's webhook secret): sealed on write, opened on read.
    A value written before sealing existed (plain text, not a Fernet token) reads as it is."""

    impl = String(255)  # a Fernet token of up to 111 bytes of secret
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> str | None:  # noqa: ANN001
        return None if value is None else _column_vault().seal_text(value)

    def process_result_value(self, value: str | None, dialect) -> str | None:  # noqa: ANN001
        return None if value is None else open_sealed_text(value)


def open_sealed_text(value: str) -> str:
    """The plain value of a SealedText column read with raw SQL (the webhook receiver)."""
    if not value.startswith(_FERNET_PREFIX):
        return value  # written before it was sealed
    return _column_vault().open_text(value)


_FERNET_PREFIX = "gAAAAA"  # every Fernet token starts with its version byte 0x80, base64url


def instance_keys(instance_path: str) -> list[str]:
    """The development key kept in the instance folder, made on first use.

    Several processes may start at once on a fresh folder (gunicorn's workers, the test suite's):
    the key is written to a file of its own and linked into place, which only one of them can do,
    and every one then reads that one, complete, key. On a file system without hard links (vfat,
    some shared folders) the key file is created exclusively and written in place instead, and a
    reader that finds it still empty waits for the writer."""
    path = os.path.join(instance_path, "secret.key")
    if not os.path.exists(path):
        key = Fernet.generate_key().decode()
        fd, draft = tempfile.mkstemp(prefix=".secret.key.", dir=instance_path)   # mode 0600
        try:
            with os.fdopen(fd, "w") as out:
                out.write(key)
            os.link(draft, path)
        except FileExistsError:
            pass   # another process made it first: that key is the key
        except OSError:   # no hard links here
            _write_exclusively(path, key)
        finally:
            os.unlink(draft)
    for _ in range(100):   # a writer in place (no hard links) may not have written it yet
        with open(path) as key_file:
            key = key_file.read().strip()
        if key:
            return [key]
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it to make a new development key")


def _write_exclusively(path: str, key: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as out:
        out.write(key)
