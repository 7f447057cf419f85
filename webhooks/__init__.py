"""The inbound webhook boundary: POST /webhooks/shopify and POST /webhooks/woocommerce.

`receiver` holds the blueprint; `platforms/` the adapters (headers, topics, payload → states);
`signatures` the HMAC check; `registry` the platform table.
"""
