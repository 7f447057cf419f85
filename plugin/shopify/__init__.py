"""Kompas as a Shopify app: install and tokens, the Admin API, lifecycle and privacy webhooks,
history backfill and reconciliation. Facts and sources: shared/platforms/shopify.md."""
