"""What the panel says, in Dutch and English, and numbers, money and dates formatted for the
merchant's locale through Babel (CLDR data), never by hand."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time, format_timedelta, get_datetime_format
from babel.numbers import format_currency, format_decimal, format_percent

from .alerts.texts import ALERT_STRINGS

LANGUAGES = {"nl": "nl_NL", "en": "en_US"}
DEFAULT = "en"

STRINGS: dict[str, dict[str, str]] = {
    "title": {"nl": "Kompas", "en": "Kompas"},
    "range": {"nl": "Periode", "en": "Date range"},
    "compare": {"nl": "Vergelijk met", "en": "Compare with"},
    "compare.previous": {"nl": "Vorige periode", "en": "Previous period"},
    "compare.last_year": {"nl": "Zelfde periode vorig jaar", "en": "Same period last year"},
    "range.today": {"nl": "Vandaag", "en": "Today"},
    "range.yesterday": {"nl": "Gisteren", "en": "Yesterday"},
    "range.last7": {"nl": "Laatste 7 dagen", "en": "Last 7 days"},
    "range.last30": {"nl": "Laatste 30 dagen", "en": "Last 30 days"},
    "range.last90": {"nl": "Laatste 90 dagen", "en": "Last 90 days"},
    "range.this_month": {"nl": "Deze maand", "en": "This month"},
    "range.last_month": {"nl": "Vorige maand", "en": "Last month"},
    "range.this_year": {"nl": "Dit jaar", "en": "This year"},
    "range.custom": {"nl": "Aangepast", "en": "Custom"},
    "from": {"nl": "Van", "en": "From"},
    "to": {"nl": "Tot en met", "en": "To"},
    "apply": {"nl": "Toepassen", "en": "Apply"},
    "language": {"nl": "Taal", "en": "Language"},
    "no_data": {"nl": "Geen gegevens", "en": "No data"},
    "vs": {"nl": "t.o.v.", "en": "vs"},
    "export": {"nl": "CSV downloaden", "en": "Download CSV"},
    "export.xlsx": {"nl": "Excel downloaden", "en": "Download Excel"},
    "loading": {"nl": "Cijfers laden…", "en": "Loading figures…"},
    "empty": {"nl": "Nog geen bestellingen in deze periode. Zodra je winkel bestellingen ontvangt, verschijnen ze hier.",
              "en": "No orders in this period yet. As soon as your shop receives orders, they appear here."},
    "fresh.last": {"nl": "Laatste webhook ontvangen: {when}", "en": "Last webhook received: {when}"},
    "fresh.never": {"nl": "Nog geen webhooks ontvangen.", "en": "No webhooks received yet."},
    "fresh.stale": {"nl": "Al lang geen webhook ontvangen: controleer of je winkel bereikbaar is.",
                    "en": "No webhook for an unusually long time: check that your shop is reachable."},
    "carts.silent": {
        "nl": "Er komen nog bestellingen binnen ({orders} sindsdien), maar sinds {when} geen nieuwe winkelwagen: "
              "staat de Kompas-plugin in WordPress nog aan? Zonder de plugin krijgt Kompas geen winkelwagens "
              "en klopt het cijfer voor verlaten winkelwagens niet.",
        "en": "Orders still arrive ({orders} since then), but no new cart since {when}: is the Kompas plugin "
              "still active in WordPress? Without it, Kompas gets no carts and the cart abandonment figure is wrong."},
    "chart": {"nl": "Verloop", "en": "Over time"},
    "error": {"nl": "De cijfers konden niet worden geladen.", "en": "The figures could not be loaded."},
    "bounce.opening": {"nl": "Kompas wordt geopend… Gebeurt er niets, laad de pagina dan opnieuw.",
                       "en": "Kompas is opening… If nothing happens, reload the page."},
    "bounce.noscript": {"nl": "Kompas heeft JavaScript nodig in de Shopify-beheeromgeving.",
                        "en": "Kompas needs JavaScript inside Shopify admin."},
    "setting.number": {"nl": "Niet opgeslagen: “{value}” is geen getal van 0 tot 1.000.000.000.000.",
                       "en": "Not saved: “{value}” is not a number from 0 to 1,000,000,000,000."},
    "setting.whole": {"nl": "Niet opgeslagen: het doel voor een aantal is een heel getal, niet “{value}”.",
                      "en": "Not saved: the target of a count is a whole number, not “{value}”."},
    "setting.retention": {"nl": "Niet opgeslagen: het venster is een heel aantal dagen van 1 tot 3650, niet “{value}”.",
                          "en": "Not saved: the window is a whole number of days from 1 to 3650, not “{value}”."},
    "setting.statuses": {"nl": "Niet opgeslagen: “{value}” is geen bestelstatus.",
                         "en": "Not saved: “{value}” is not an order status."},
    "setting.statuses_platform": {"nl": "Niet opgeslagen: alleen een WooCommerce-winkel kent bestelstatussen.",
                                  "en": "Not saved: only a WooCommerce shop has order statuses."},
    "statuses": {"nl": "Bestelstatussen", "en": "Order statuses"},
    "statuses.help": {"nl": "Bestellingen met een aangevinkte status tellen nergens mee (zoals offertes). "
                            "Wachtend, mislukt en concept tellen nooit mee.",
                      "en": "Orders with a ticked status count nowhere (quotes, for example). "
                            "Pending, failed and draft orders never count."},
    "statuses.none": {"nl": "Nog geen bestellingen met een status.", "en": "No orders with a status yet."},
    "datarequests": {"nl": "Verzoeken om klantgegevens", "en": "Customer data requests"},
    "datarequests.help": {
        "nl": "Shopify heeft namens een klant gevraagd welke gegevens Kompas over die klant bewaart. "
              "Download ze en stuur ze binnen 30 dagen naar de klant.",
        "en": "Shopify asked, on a customer's behalf, which data Kompas keeps about them. "
              "Download it and send it to the customer within 30 days."},
    "datarequests.item": {"nl": "{when} · klant {customer} · bestellingen bij Kompas: {orders}",
                          "en": "{when} · customer {customer} · orders held by Kompas: {orders}"},
    "datarequests.download": {"nl": "JSON downloaden", "en": "Download JSON"},
    "connect.confirm": {"nl": "Je koppelt Kompas aan de winkel op {store}. Ga alleen verder als dat jouw winkel is: "
                              "daar geef je Kompas toegang.",
                        "en": "You are connecting Kompas to the store at {store}. Only go on if that is your store: "
                              "that is where you give Kompas access."},
    "connect.continue": {"nl": "Verder naar {store}", "en": "Continue to {store}"},
    "retention": {"nl": "Klantbehoud", "en": "Customer retention"},
    "retention.days": {"nl": "Een klant telt als actief zolang de laatste bestelling hoogstens zoveel dagen oud is",
                       "en": "A customer counts as active while their last order is at most this many days old"},
    "setting.month": {"nl": "Niet opgeslagen: kies een maand (JJJJ-MM), niet “{value}”.",
                      "en": "Not saved: choose a month (YYYY-MM), not “{value}”."},
    "grain": {"nl": "Per", "en": "By"},
    "grain.day": {"nl": "Dag", "en": "Day"},
    "grain.week": {"nl": "Week", "en": "Week"},
    "grain.month": {"nl": "Maand", "en": "Month"},
    "customers.title": {"nl": "Nieuwe en terugkerende klanten", "en": "New and returning customers"},
    "customers.kind": {"nl": "Klanten", "en": "Customers"},
    "customers.count": {"nl": "Aantal", "en": "Count"},
    "customers.share": {"nl": "Aandeel", "en": "Share"},
    "customers.new": {"nl": "Nieuw (eerste bestelling in de periode)", "en": "New (first order in the period)"},
    "customers.returning": {"nl": "Terugkerend (twee of meer bestellingen)", "en": "Returning (two or more orders)"},
    "customers.all": {"nl": "Alle klanten in de periode", "en": "All customers in the period"},
    "products": {"nl": "Retouren per product", "en": "Returns by product"},
    "products.product": {"nl": "Product", "en": "Product"},
    "products.items": {"nl": "Geretourneerd", "en": "Items returned"},
    "products.value": {"nl": "Retourwaarde", "en": "Returned value"},
    "products.none": {"nl": "Geen retouren in deze periode.", "en": "No returns in this period."},
    "sources": {"nl": "Verkoop per bron", "en": "Sales by traffic source"},
    "sources.source": {"nl": "Bron", "en": "Source"},
    "sources.none": {"nl": "Geen bestellingen in deze periode.", "en": "No orders in this period."},
    "kpi.acquisition_cost": {"nl": "Acquisitiekosten (CAC)", "en": "Acquisition cost (CAC)"},
    "info.acquisition_cost": {"nl": "Marketinguitgaven in de periode / nieuwe klanten. Vul je uitgaven per maand hieronder in.",
                              "en": "Marketing spend in the period / new customers. Enter your spend per month below."},
    "kpi.customer_lifetime_value": {"nl": "Klantwaarde (CLV, 12 mnd)", "en": "Customer lifetime value (12 mo)"},
    "kpi.clv_to_cac": {"nl": "CLV : CAC", "en": "CLV : CAC"},
    "info.customer_lifetime_value": {"nl": "Netto-omzet in het jaar na hun eerste bestelling, per klant die in de periode voor het eerst bestelde.",
                                     "en": "Net sales in the year after their first order, per customer who first ordered in the period."},
    "info.clv_to_cac": {"nl": "Klantwaarde gedeeld door acquisitiekosten; boven 3 : 1 wordt vaak als gezond gezien.",
                        "en": "Lifetime value divided by acquisition cost; above 3 : 1 is often called healthy."},
    "clv.partial": {"nl": "Nog maar {days} van de 365 dagen bekeken", "en": "Only {days} of the 365 days observed so far"},
    "target": {"nl": "Doel", "en": "Target"},
    "target.save": {"nl": "Doel opslaan", "en": "Save target"},
    "target.progress": {"nl": "{progress} van doel {target}", "en": "{progress} of target {target}"},
    "spend": {"nl": "Marketinguitgaven per maand", "en": "Marketing spend per month"},
    "spend.month": {"nl": "Maand", "en": "Month"},
    "spend.amount": {"nl": "Bedrag", "en": "Amount"},
    "spend.save": {"nl": "Opslaan", "en": "Save"},
    "saved": {"nl": "Opgeslagen", "en": "Saved"},
    "kpi.net_sales": {"nl": "Netto-omzet", "en": "Net sales"},
    "kpi.orders": {"nl": "Bestellingen", "en": "Orders"},
    "kpi.average_order_value": {"nl": "Gemiddelde orderwaarde", "en": "Average order value"},
    "kpi.checkout_conversion": {"nl": "Checkout-conversie", "en": "Checkout conversion"},
    "kpi.cart_abandonment_rate": {"nl": "Verlaten winkelwagens", "en": "Cart abandonment"},
    "kpi.checkout_abandonment_rate": {"nl": "Verlaten checkouts", "en": "Checkout abandonment"},
    "kpi.return_rate": {"nl": "Retourpercentage", "en": "Return rate"},
    "kpi.refund_rate": {"nl": "Terugbetalingspercentage", "en": "Refund rate"},
    "kpi.cancellation_rate": {"nl": "Annuleringspercentage", "en": "Cancellation rate"},
    "kpi.customers": {"nl": "Klanten", "en": "Customers"},
    "kpi.new_customers": {"nl": "Nieuwe klanten", "en": "New customers"},
    "kpi.returning_customer_rate": {"nl": "Terugkerende klanten", "en": "Returning customer rate"},
    "kpi.customer_retention_rate": {"nl": "Klantbehoud (CRR)", "en": "Customer retention (CRR)"},
    "kpi.churn_rate": {"nl": "Klantverloop (churn)", "en": "Churn rate"},
    "info.customer_retention_rate": {"nl": "((actief aan het eind − nieuw) / actief aan het begin) × 100; actief = besteld in de laatste {days} dagen.",
                                     "en": "((active at the end − new) / active at the start) × 100; active = ordered in the last {days} days."},
    "info.churn_rate": {"nl": "100 − klantbehoud, exact berekend en dan afgerond (samen kunnen ze 100,01 zijn).",
                        "en": "100 − customer retention, computed exactly, then rounded (together they can show 100.01)."},
    "info.net_sales": {"nl": "Brutoverkoop min kortingen en retouren, zonder verzendkosten en btw.",
                       "en": "Gross sales minus discounts and returns, without shipping and taxes."},
    "install.failed": {"nl": "Kompas kon {shop} nog niet koppelen. Open de app straks opnieuw; Shopify gaf deze fout:",
                       "en": "Kompas could not connect {shop} yet. Open the app again in a moment; Shopify answered:"},
    "sync.woocommerce_repaired": {
        "nl": "Laatste herstel bij WooCommerce: {when}. Gemiste leveringen hersteld: {orders}; webhooks hersteld: {webhooks}.",
        "en": "Last repair at WooCommerce: {when}. Missed deliveries repaired: {orders}; webhooks repaired: {webhooks}."},
    "sync.clean": {"nl": "Laatste controle bij het platform: {when}. Er ontbrak niets.",
                   "en": "Last check against the platform: {when}. Nothing was missing."},
    "sync.repaired": {"nl": "Laatste controle bij het platform: {when}. {count} gemiste wijzigingen hersteld.",
                      "en": "Last check against the platform: {when}. {count} missed changes repaired."},
    "backfill.running": {"nl": "Je bestelgeschiedenis wordt geïmporteerd: {done} van {total} bestellingen ({percent}).",
                         "en": "Importing your order history: {done} of {total} orders ({percent})."},
    "backfill.counting": {"nl": "Je bestelgeschiedenis wordt geïmporteerd: {done} bestellingen tot nu toe.",
                          "en": "Importing your order history: {done} orders so far."},
    "backfill.eta": {"nl": "Nog ongeveer {eta}.", "en": "About {eta} left."},
    "backfill.queued": {"nl": "De import van je bestelgeschiedenis start zo.",
                        "en": "The import of your order history is about to start."},
    "backfill.failed": {"nl": "De import van je bestelgeschiedenis is onderbroken; hij gaat vanzelf verder waar hij stopte.",
                        "en": "The import of your order history was interrupted; it resumes where it stopped."},
    "backfill.hold": {"nl": "De cijfers verschijnen zodra de import klaar is, zodat je geen onvolledige cijfers ziet.",
                      "en": "The figures appear when the import is done, so that you never see partial figures."},
    "backfill.sixty_days": {"nl": "Shopify deelt alleen de bestellingen van de laatste 60 dagen zolang Kompas geen toegang tot alle bestellingen (read_all_orders) heeft: oudere geschiedenis telt niet mee.",
                            "en": "Shopify shares only the last 60 days of orders until Kompas is granted access to all orders (read_all_orders): older history is not counted."},
    "info.orders": {"nl": "Bestellingen geplaatst in de periode (geen testbestellingen).",
                    "en": "Orders placed in the period (test orders excluded)."},
    "info.average_order_value": {"nl": "Brutoverkoop min kortingen, gedeeld door het aantal bestellingen.",
                                 "en": "Gross sales minus discounts, divided by the number of orders."},
    "info.checkout_conversion": {"nl": "Deel van de gestarte checkouts dat dezelfde dag een bestelling werd.",
                                 "en": "Share of started checkouts that became an order the same day."},
    "info.cart_abandonment_rate": {"nl": "(Winkelwagens − aankopen) / winkelwagens: hoeveel mandjes niet werden afgerekend.",
                                   "en": "(Carts − purchases) / carts: how many carts were never checked out."},
    "info.checkout_abandonment_rate": {"nl": "Deel van de gestarte checkouts dat niet werd afgerond.",
                                       "en": "Share of started checkouts that were not completed."},
    "info.return_rate": {"nl": "Geretourneerde producten / verkochte producten × 100.",
                         "en": "Items returned / items sold × 100."},
    "info.refund_rate": {"nl": "Terugbetaald geld als deel van wat klanten betaalden.",
                         "en": "Money refunded as a share of what customers were charged."},
    "info.cancellation_rate": {"nl": "Geannuleerde bestellingen / bestellingen.",
                               "en": "Cancelled orders / orders."},
    "info.customers": {"nl": "Verschillende klanten die in de periode bestelden.",
                       "en": "Distinct customers who ordered in the period."},
    "info.new_customers": {"nl": "Klanten van wie de eerste bestelling in de periode valt.",
                           "en": "Customers whose first order falls in the period."},
    "info.returning_customer_rate": {"nl": "Klanten met minstens twee bestellingen, als deel van alle klanten in de periode.",
                                     "en": "Customers with at least two orders, as a share of the period's customers."},
}

STRINGS.update(ALERT_STRINGS)  # the alerts' texts (plugin.alerts.texts), one catalogue for panel and mail


def language_of(value: str | None) -> str:
    """"nl" or "en" from a locale such as Shopify's `locale` parameter ("nl-NL", "en", "nl_BE")."""
    prefix = (value or "").replace("_", "-").split("-")[0].lower()
    return prefix if prefix in LANGUAGES else DEFAULT


def t(key: str, language: str, **values: object) -> str:
    text = STRINGS[key][language]
    return text.format(**values) if values else text


def catalogue(language: str) -> dict[str, str]:
    return {key: texts[language] for key, texts in STRINGS.items()}


def money(amount: Decimal | str, currency: str, language: str) -> str:
    """€ 1.234,56 in Dutch, €1,234.56 in English."""
    return format_currency(Decimal(amount), currency, locale=LANGUAGES[language])


def number(value: int | Decimal, language: str) -> str:
    return format_decimal(value, locale=LANGUAGES[language])


def percent(value: Decimal | str, language: str, signed: bool = False) -> str:
    """A percentage given in percent units ("6.67" → 6,67% in Dutch)."""
    fraction = Decimal(value) / 100
    text = format_percent(fraction, format="#,##0.0#%", locale=LANGUAGES[language])
    if signed and fraction > 0:
        text = "+" + text
    return text


def kpi_value(value: str | int | None, kind: str, currency: str, language: str) -> str:
    """A report figure as the merchant reads it: kind "money", "rate" (percent units), "ratio"
    (x : 1) or a count; "No data" when there is none (a zero denominator)."""
    if value is None:
        return t("no_data", language)
    if kind == "money":
        return money(value, currency, language)
    if kind == "rate":
        return percent(value, language)
    if kind == "ratio":
        return number(Decimal(value), language) + " : 1"
    return number(int(value), language)


def day(value: date, language: str, form: str = "medium") -> str:
    return format_date(value, format=form, locale=LANGUAGES[language])


def duration(seconds: float, language: str) -> str:
    """"3 minutes" / "3 minuten": a rounded span of time."""
    return format_timedelta(timedelta(seconds=seconds), threshold=1.1, locale=LANGUAGES[language])


def moment(value: datetime, zone: str, language: str, seconds: bool = True) -> str:
    """An instant in the shop's zone, "9 nov 2026, 11:00:00"; without seconds "9 nov 2026, 11:00"
    (CLDR's medium date with its short time, joined as CLDR joins them)."""
    if seconds:
        return format_datetime(value, format="medium", tzinfo=zone, locale=LANGUAGES[language])
    local = value.astimezone(ZoneInfo(zone))
    return (get_datetime_format("medium", locale=LANGUAGES[language]).replace("'", "")
            .replace("{0}", format_time(local, "short", locale=LANGUAGES[language]))
            .replace("{1}", format_date(local, "medium", locale=LANGUAGES[language])))

