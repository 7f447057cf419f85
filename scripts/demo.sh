#!/usr/bin/env bash
# Installs Kompas, fills an SQLite database in ./instance with a demo shop (about 90 days of
# orders, refunds, cancellations, returns and carts, sent as signed webhooks through the real
# receiver) and serves it. Ctrl-C stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export KOMPAS_SHOPIFY_API_SECRET="${KOMPAS_SHOPIFY_API_SECRET:-shpss_demo_secret_change_me_0123456789}"
export KOMPAS_SHOPIFY_API_KEY="${KOMPAS_SHOPIFY_API_KEY:-kompas-demo-client-id}"
export KOMPAS_INSTANCE_PATH="${KOMPAS_INSTANCE_PATH:-$PWD/instance}"
# Outside Shopify admin there is no App Bridge to hand out session tokens: the demo panel mints
# them itself. Never set this in production.
export KOMPAS_DEMO_PANEL=1
HOST="${KOMPAS_HOST:-127.0.0.1}"
PORT="${KOMPAS_PORT:-8000}"
.venv/bin/kompas db upgrade
if ! .venv/bin/kompas report --shop demo.myshopify.com --from 2000-01-01 --to 2000-01-01 >/dev/null 2>&1; then
  echo "Sending 90 days of demo webhooks through the receiver (about a minute)..."
  .venv/bin/kompas demo --domain demo.myshopify.com --days 90
fi
TODAY=$(date +%F)
FROM=$(date -d "-29 days" +%F)
echo
echo "Kompas is running with the demo shop demo.myshopify.com."
echo "  Panel:   http://$HOST:$PORT/panel/demo?shop=demo.myshopify.com&lang=nl   (lang=en for English)"
echo "  Report:  .venv/bin/kompas report --shop demo.myshopify.com --from $FROM --to $TODAY --json"
echo
exec .venv/bin/kompas serve --host "$HOST" --port "$PORT"
