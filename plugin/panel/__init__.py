"""The KPI panel inside the shop admin, and the JSON API behind it."""
from flask import Blueprint

bp = Blueprint("panel", __name__, url_prefix="/panel", template_folder="templates", static_folder="static")
api = Blueprint("api", __name__, url_prefix="/api")

from . import views  # noqa: E402,F401  (registers the routes)
from .alerts import bp as _alerts_bp  # noqa: E402  (the alerts section: /panel/alerts/…)

bp.register_blueprint(_alerts_bp)
