"""The ceiling for the ingestion benchmark: a Flask app that only answers 200, served by gunicorn
with the same worker settings as `kompas serve`."""
from flask import Flask

app = Flask(__name__)


@app.post("/webhooks/shopify")
def receive():  # noqa: ANN201
    return "", 200


@app.get("/healthz")
def healthz():  # noqa: ANN201
    return "ok"
