"""WSGI entry for gunicorn: `gunicorn plugin.wsgi:app` (what `kompas serve` runs)."""
from . import create_app

app = create_app()
