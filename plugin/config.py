"""Settings: defaults, then KOMPAS_* environment variables, then an explicit mapping (tests).

Read only inside create_app, never at import.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

TRUE = {"1", "true", "yes", "on"}


def load_config(environ: Mapping[str, str], instance_path: str) -> dict[str, Any]:
    """The app's settings from `environ`.

    KOMPAS_DATABASE_URL        SQLAlchemy URL; unset: sqlite file kompas.sqlite3 in the instance folder
    KOMPAS_SHOPIFY_API_SECRET  the Shopify app's client secret (signs every Shopify webhook)
    KOMPAS_SHOPIFY_API_SECRET_OLD  the previous secret, accepted too during a rotation (up to an hour)
    KOMPAS_SHOPIFY_API_KEY     the Shopify app's client id (the `aud` of session tokens)
    KOMPAS_APPLY_INLINE        "1": apply each delivery inside its request; default: a worker does
    KOMPAS_DEMO_PANEL          "1": /panel/demo opens the panel without Shopify admin (never in production)
    KOMPAS_SQLITE_SYNCHRONOUS  SQLite's synchronous pragma: FULL (default) or NORMAL
    KOMPAS_SECRET_KEY          Fernet key(s) sealing stored tokens, comma-separated, newest first;
                               unset: a key made once in the instance folder (development only)
    KOMPAS_PUBLIC_URL          the app's public https URL (application_url, OAuth redirects, links)
    KOMPAS_SMTP_HOST, KOMPAS_SMTP_PORT  the SMTP server alert and digest e-mails go through (port 25 by default)
    KOMPAS_SMTP_USER, KOMPAS_SMTP_PASSWORD  its login, when it needs one
    KOMPAS_SMTP_FROM           the From address of those e-mails
    KOMPAS_SMTP_STARTTLS       "1": switch to TLS with STARTTLS before logging in
    KOMPAS_ALERTS_INTERVAL     seconds between alert evaluations of `kompas serve` (default 300)
    """
    url = environ.get("KOMPAS_DATABASE_URL") or "sqlite:///" + os.path.join(instance_path, "kompas.sqlite3")
    secrets = [environ.get("KOMPAS_SHOPIFY_API_SECRET", ""), environ.get("KOMPAS_SHOPIFY_API_SECRET_OLD", "")]
    return {
        "DATABASE_URL": url,
        "SHOPIFY_API_SECRETS": [s for s in secrets if s],
        "SHOPIFY_API_KEY": environ.get("KOMPAS_SHOPIFY_API_KEY", ""),
        "APPLY_INLINE": environ.get("KOMPAS_APPLY_INLINE", "").lower() in TRUE,
        "DEMO_PANEL": environ.get("KOMPAS_DEMO_PANEL", "").lower() in TRUE,
        "PANEL_EXTRA_FRAME_ANCESTORS": [],
        "SQLITE_SYNCHRONOUS": (environ.get("KOMPAS_SQLITE_SYNCHRONOUS") or "FULL").upper(),
        "SECRET_KEYS": [k.strip() for k in environ.get("KOMPAS_SECRET_KEY", "").split(",") if k.strip()],
        "PUBLIC_URL": (environ.get("KOMPAS_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
        "SMTP_HOST": environ.get("KOMPAS_SMTP_HOST", ""),
        "SMTP_PORT": int(environ.get("KOMPAS_SMTP_PORT") or 25),
        "SMTP_USER": environ.get("KOMPAS_SMTP_USER", ""),
        "SMTP_PASSWORD": environ.get("KOMPAS_SMTP_PASSWORD", ""),
        "SMTP_FROM": environ.get("KOMPAS_SMTP_FROM", ""),
        "SMTP_STARTTLS": environ.get("KOMPAS_SMTP_STARTTLS", "").lower() in TRUE,
        "ALERTS_INTERVAL": float(environ.get("KOMPAS_ALERTS_INTERVAL") or 300),
    }
