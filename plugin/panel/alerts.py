"""The panel's alerts section: JSON under /panel/alerts, authenticated like every panel XHR.

GET  /panel/alerts/state.json           rules with their state and figures, firing alerts, past alerts,
                                        channels and failed deliveries, texts formatted for the language
POST /panel/alerts/rules                 add a rule (a threshold or a drop/rise against normal)
POST /panel/alerts/rules/<id>            change a rule (settings, on/off, mute until)
POST /panel/alerts/channels              add a channel (e-mail, Slack, webhook)
POST /panel/alerts/channels/<id>         change a channel; DELETE removes it
POST /panel/alerts/test                  send a test notification now ({"channel": id} or every channel)
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, current_app, g, jsonify, render_template, request
from sqlalchemy import select

from ..alerts import detect, evaluate, outbox
from ..alerts.channels import figure, kpi_label, rule_title
from ..alerts.manage import add_channel, update_channel
from ..alerts.models import AlertChannel, AlertEvent, AlertNotification, AlertRule
from ..alerts.rules import RuleError, settings_of, spec_of, update_rule
from ..models import Shop
from ..refusals import Refusal
from ..shops import ShopError, find_shop
from .. import i18n
from .views import _language, authenticated

bp = Blueprint("alerts", __name__, url_prefix="/alerts")
HISTORY = 50


def _db():  # noqa: ANN202
    return current_app.extensions["kompas.db"]


def _shop(session) -> Shop | None:  # noqa: ANN001
    try:
        return find_shop(session, g.session.shop)
    except ShopError:
        return None


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat()


def _moment(value: datetime | None, shop: Shop, language: str) -> str | None:
    if value is None:
        return None
    return i18n.moment(value, shop.timezone, language)


def _title(rule: AlertRule, shop: Shop, language: str) -> str:
    return rule_title(rule.key, language, rule.kpi, settings_of(spec_of(rule)), shop.currency)


def _rule_json(rule: AlertRule, shop: Shop, language: str) -> dict[str, Any]:
    figures = rule.figures or {}
    return {
        "id": rule.id, "key": rule.key, "title": _title(rule, shop, language), "kpi": rule.kpi,
        "kpi_label": kpi_label(rule.kpi, language), "kind": rule.kind, "window": rule.window,
        "window_hours": rule.window_hours, "reference_hours": rule.reference_hours or 0,
        "change_pct": rule.change_pct, "threshold": rule.threshold,
        "direction": rule.direction, "min_volume": rule.min_volume, "for_minutes": rule.for_minutes,
        "volume_text": i18n.t(f"alerts.volume.{detect.volume_counter(rule.kpi, rule.window)}", language),
        "repeat_minutes": rule.repeat_minutes, "quiet_start": rule.quiet_start, "quiet_end": rule.quiet_end,
        "muted_until": _iso(rule.muted_until), "enabled": rule.enabled, "status": rule.status,
        "status_text": i18n.t(f"alerts.status.{rule.status}", language),
        "since": _iso(rule.since), "evaluated_at": _iso(rule.evaluated_at), "figures": figures,
        "value_text": figure(figures.get("value"), rule.kpi, shop.currency, language) if figures else None,
        "normal_text": figure(figures.get("normal"), rule.kpi, shop.currency, language) if figures else None,
        "change_text": None if figures.get("change") is None else
        i18n.percent(f"{figures['change']:.1f}", language, signed=True),
    }


def _event_json(event: AlertEvent, shop: Shop, language: str) -> dict[str, Any]:
    return {"id": event.id, "rule": event.rule_key,
            "title": rule_title(event.rule_key, language, event.kpi, event.details.get("rule"), shop.currency)
            if event.rule_key != "test" else i18n.t("alerts.kind.test", language),
            "kind": event.kind, "kind_text": i18n.t(f"alerts.kind.{event.kind}", language),
            "at": _iso(event.at), "at_text": _moment(event.at, shop, language), "kpi": event.kpi,
            "kpi_label": kpi_label(event.kpi, language), "value": event.value, "normal": event.normal,
            "change": event.change, "value_text": figure(event.value, event.kpi, shop.currency, language),
            "normal_text": figure(event.normal, event.kpi, shop.currency, language),
            "change_text": None if event.change is None else i18n.percent(f"{event.change:.1f}", language, signed=True),
            "contributor": event.details.get("contributor"), "series": event.details.get("series") or []}


def _channel_json(channel: AlertChannel, language: str) -> dict[str, Any]:
    return {"id": channel.id, "kind": channel.kind, "kind_text": i18n.t(f"alerts.channel.{channel.kind}", language),
            "target": channel.target, "language": channel.language, "alerts": channel.alerts,
            "digest_daily": channel.digest_daily, "digest_weekly": channel.digest_weekly, "enabled": channel.enabled,
            "secret": channel.secret if channel.kind == "webhook" else None}


@bp.get("/state.json")
@authenticated
def state():  # noqa: ANN201
    language = _language()
    with _db().reading() as session:
        shop = _shop(session)
        if shop is None:
            return jsonify(error="unknown shop"), 404
        rules = list(session.scalars(select(AlertRule).where(AlertRule.shop_id == shop.id).order_by(AlertRule.id)))
        events = list(session.scalars(select(AlertEvent).where(AlertEvent.shop_id == shop.id)
                                      .order_by(AlertEvent.at.desc(), AlertEvent.id.desc()).limit(HISTORY)))
        channels = list(session.scalars(select(AlertChannel).where(AlertChannel.shop_id == shop.id)
                                        .order_by(AlertChannel.id)))
        failures = session.execute(
            select(AlertNotification, AlertChannel).join(AlertChannel, AlertChannel.id == AlertNotification.channel_id)
            .where(AlertNotification.shop_id == shop.id, AlertNotification.last_error.is_not(None),
                   AlertNotification.status.not_in((outbox.SENT, outbox.CANCELLED)))
            .order_by(AlertNotification.id.desc()).limit(HISTORY)).all()
        return jsonify({
            "rules": [_rule_json(r, shop, language) for r in rules],
            "firing": [_rule_json(r, shop, language) for r in rules if r.status == "firing" and r.enabled],
            "events": [_event_json(e, shop, language) for e in events],
            "channels": [_channel_json(c, language) for c in channels],
            "kpis": [{"key": key, "label": kpi_label(key, language)} for key in detect.KPIS],
            "failures": [{"id": n.id, "channel": c.target, "channel_kind": c.kind, "kind": n.kind, "status": n.status,
                          "attempts": n.attempts, "error": n.last_error, "next_attempt_at": _iso(n.next_attempt_at),
                          "next_attempt_text": _moment(n.next_attempt_at, shop, language)} for n, c in failures],
        })


class BadBody(Exception):
    """The request body is not the JSON object an endpoint takes (answered 400)."""


def _body() -> dict[str, Any]:
    """The JSON object sent; {} for an empty body; BadBody for anything else."""
    if not request.get_data():
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadBody("send a JSON object")
    return data


@bp.errorhandler(BadBody)
def _bad_body(exc: BadBody):  # noqa: ANN202
    return jsonify(error=str(exc)), 400


@bp.errorhandler(Refusal)
def _refused(exc: Refusal):  # noqa: ANN202
    """A rule, channel or test refused: raised inside the write transaction, which it rolls back
    whole (a change refused halfway leaves nothing of it behind). `error` for API clients,
    `error_text` for the merchant."""
    return jsonify(error=str(exc), error_text=exc.text(_language())), 400


MAX_ID = 2 ** 63 - 1


def _muted_until(value: Any) -> datetime | None:  # noqa: ANN401
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise RuleError("muted_until needs a zone", "alerts.refused.setting", setting="alerts.mute",
                            value=str(value)[:40])
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise RuleError(f"muted_until: not a time Kompas can keep ({exc})", "alerts.refused.setting",
                        setting="alerts.mute", value=str(value)[:40]) from exc


@bp.post("/rules")
@authenticated
def create_rule():  # noqa: ANN201
    data = _body()
    with _db().transaction() as session:
        shop = _shop(session)
        if shop is None:
            return jsonify(error="unknown shop"), 404
        count = len(list(session.scalars(select(AlertRule.id).where(AlertRule.shop_id == shop.id))))
        rule = AlertRule(shop_id=shop.id, key=f"custom_{count + 1}", kpi="orders", kind="threshold", window="hours",
                         window_hours=24, change_pct=40.0, direction="below", min_volume=0.0, for_minutes=60,
                         repeat_minutes=1440, enabled=True, status="ok", owed_resolved=False, incident=0)
        if data.get("kind") in ("drop", "rise") and "min_volume" not in data:
            data = {**data, "min_volume": 12}   # as the defaults: two orders never fire an alert
        _apply_rule_changes(rule, data)
        session.add(rule)
        session.flush()
        return jsonify(_rule_json(rule, shop, _language())), 201


@bp.post("/rules/<int:rule_id>")
@authenticated
def change_rule(rule_id: int):  # noqa: ANN201
    data = _body()
    with _db().transaction() as session:
        shop = _shop(session)
        # locked as the evaluator locks it: a rule switched off while an evaluation moves its state
        # would otherwise keep that state (its reset only writes what differs from what was read)
        rule = session.get(AlertRule, rule_id, with_for_update=True) if rule_id <= MAX_ID else None
        if shop is None or rule is None or rule.shop_id != shop.id:
            return jsonify(error="unknown rule"), 404
        _apply_rule_changes(rule, data)
        return jsonify(_rule_json(rule, shop, _language()))


def _apply_rule_changes(rule: AlertRule, data: dict[str, Any]) -> None:
    """The panel's rule settings, muted_until included; RuleError (the transaction rolls back) on
    the first bad one."""
    data = dict(data)
    if "muted_until" in data:
        rule.muted_until = _muted_until(data.pop("muted_until"))
    update_rule(rule, data)


@bp.post("/channels")
@authenticated
def create_channel():  # noqa: ANN201
    with _db().transaction() as session:
        shop = _shop(session)
        if shop is None:
            return jsonify(error="unknown shop"), 404
        channel = add_channel(session, shop.id, _body())   # ChannelInputError: 400, rolled back
        return jsonify(_channel_json(channel, _language())), 201


@bp.route("/channels/<int:channel_id>", methods=["POST", "DELETE"])
@authenticated
def change_channel(channel_id: int):  # noqa: ANN201
    with _db().transaction() as session:
        shop = _shop(session)
        channel = session.get(AlertChannel, channel_id) if channel_id <= MAX_ID else None
        if shop is None or channel is None or channel.shop_id != shop.id:
            return jsonify(error="unknown channel"), 404
        if request.method == "DELETE":
            session.delete(channel)
            return jsonify(deleted=channel_id)
        update_channel(channel, _body())   # ChannelInputError: 400, rolled back
        return jsonify(_channel_json(channel, _language()))


@bp.route("/unsubscribe/<key>", methods=["GET", "POST"])
def unsubscribe(key: str):  # noqa: ANN201
    """A digest e-mail's unsubscribe link: no session, the channel's random key is the proof. GET
    asks (a link scanner opening it switches nothing off), POST switches that digest off for that
    address, its alerts and the other digest stay; a mail client's one-click POST (RFC 8058) too."""
    period = request.values.get("period", "")
    with _db().transaction() as session:
        channel = session.scalar(select(AlertChannel).where(AlertChannel.unsubscribe_key == key)) \
            if 0 < len(key) <= 64 else None
        shop = session.get(Shop, channel.shop_id) if channel is not None else None
        language = channel.language if channel is not None and channel.language in i18n.LANGUAGES else _language()
        if channel is None or shop is None or period not in ("daily", "weekly"):
            return render_template("panel/unsubscribe.html", language=language, ask=False,
                                   message=i18n.t("unsubscribe.unknown", language)), 404
        names = dict(what=i18n.t(f"digest.name.{period}", language), shop=shop.name or shop.domain,
                     address=channel.target)
        if request.method == "GET":
            return render_template("panel/unsubscribe.html", language=language, ask=True, period=period,
                                   message=i18n.t("unsubscribe.ask", language, **names),
                                   button=i18n.t("digest.unsubscribe", language))
        update_channel(channel, {f"digest_{period}": False})   # and one still waiting to be sent is not
    return render_template("panel/unsubscribe.html", language=language, ask=False,
                           message=i18n.t("unsubscribe.done", language, **names))


@bp.post("/test")
@authenticated
def test():  # noqa: ANN201
    """A test notification with today's real figures, sent now to one channel or all of them."""
    data = _body()
    now = datetime.now(timezone.utc)
    db = _db()
    with db.transaction() as session:
        shop = _shop(session)
        if shop is None:
            return jsonify(error="unknown shop"), 404
        channel = data.get("channel")
        if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int) or not 0 < channel <= MAX_ID):
            return jsonify(error="channel: the id of one of the shop's channels"), 400
        wanted = [channel] if channel is not None else None
        ids = evaluate.create_test_event(session, shop, now, wanted)
        if not ids:   # no test alert in the history either
            raise Refusal("no channel to send to", "alerts.refused.no_channel")
    results = []
    for notification_id in ids:
        status = outbox.deliver_one(db, notification_id, current_app.config, now)
        with db.reading() as session:
            row = session.get(AlertNotification, notification_id)
            if status is None:   # another sender (a scheduler run) took it first: it goes out all the same
                results.append({"channel": row.channel_id, "status": "queued",
                                "error": i18n.t("alerts.test_queued", _language())})
            else:
                results.append({"channel": row.channel_id, "status": status, "error": row.last_error})
    return jsonify(results=results)
