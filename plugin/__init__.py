"""Kompas: the Flask app. `create_app` builds everything; nothing is built at import."""
from __future__ import annotations

import os
from typing import Any, Mapping

from flask import Flask, jsonify

from .config import load_config
from .db import make_database


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The app: defaults → KOMPAS_* environment → `config` (tests pass a mapping)."""
    app = Flask(__name__, instance_relative_config=True,
                instance_path=os.environ.get("KOMPAS_INSTANCE_PATH") or None)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(load_config(os.environ, app.instance_path))
    if config:
        app.config.update(config)
    if app.config["SQLITE_SYNCHRONOUS"] not in {"FULL", "NORMAL", "EXTRA"}:
        raise ValueError("KOMPAS_SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA")
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    return app


def register_extensions(app: Flask) -> None:
    from webhooks.store import DeliveryStore

    from .sealed import Vault, instance_keys, use_for_columns

    db = make_database(app.config["DATABASE_URL"], sqlite_synchronous=app.config["SQLITE_SYNCHRONOUS"])
    app.extensions["kompas.db"] = db
    store = DeliveryStore(db)
    app.extensions["kompas.deliveries"] = store
    vault = Vault(app.config["SECRET_KEYS"] or instance_keys(app.instance_path))
    app.extensions["kompas.vault"] = vault
    use_for_columns(vault)  # sealed columns (a shop's webhook secret) use it too

    def close() -> None:
        """Close every database connection this app holds (CLI commands and tests call it)."""
        store.close()
        db.dispose()

    app.extensions["kompas.close"] = close


def register_blueprints(app: Flask) -> None:
    from webhooks.receiver import WebhookIntake  # inside the factory: no import cycle

    from .panel import api, bp as panel_bp
    from .shopify.views import bp as shopify_auth
    from .woocommerce.views import bp as woocommerce_bp

    app.register_blueprint(panel_bp)
    app.register_blueprint(api)
    app.register_blueprint(shopify_auth)
    app.register_blueprint(woocommerce_bp)
    # POST /webhooks/<platform> is answered in front of Flask (see webhooks.receiver).
    app.wsgi_app = WebhookIntake(app, app.wsgi_app)  # type: ignore[method-assign]

    @app.get("/healthz")
    def healthz():  # noqa: ANN202
        return jsonify(status="ok")


def register_errorhandlers(app: Flask) -> None:
    from werkzeug.exceptions import HTTPException

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # noqa: ANN202
        return jsonify(error=exc.description), exc.code
