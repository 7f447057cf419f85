"""WooCommerce stores: connect (wc-auth), the REST client, history backfill, self-healing resync,
disconnect, and the WordPress plugin's panel token. Inbound webhooks stay in webhooks/."""
