"""Alerts when KPIs drop (issue 6): rules, pure detection, evaluation, an outbox of notifications,
channels (e-mail, Slack, signed webhooks, the panel feed) and digests.

- `detect`   pure detection math and the pending → firing → resolved state machine (clock injected)
- `rules`    the rule table's defaults, installed with every new shop
- `evaluate` reads the hourly counters, runs detection, records alert events and their notifications
- `outbox`   sends each notification once: a row per (event, channel, kind) before sending, retries with backoff
- `channels` e-mail over SMTP (HTML and text, Dutch and English), Slack, HMAC-signed webhooks
- `digest`   daily and weekly summary e-mails
- `models`   the tables, on plugin.models.Base
- `cli`      `kompas alerts …`
"""
