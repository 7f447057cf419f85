"""The cart hint's "since": the end of the newest cart's shop-local hour, as an instant."""
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from plugin.woocommerce.carts import _end_of_hour

AMS = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize("day, hour, end", [
    (date(2026, 11, 9), 10, datetime(2026, 11, 9, 10, tzinfo=timezone.utc)),      # 11:00 CET
    (date(2026, 11, 9), 23, datetime(2026, 11, 9, 23, tzinfo=timezone.utc)),      # midnight, the next day
    (date(2026, 7, 1), 10, datetime(2026, 7, 1, 9, tzinfo=timezone.utc)),         # 11:00 CEST
    # 02:00–03:00 happens twice on 25 October; both are counted as hour 02: the later one ends it
    (date(2026, 10, 25), 2, datetime(2026, 10, 25, 2, tzinfo=timezone.utc)),      # 03:00 CET
    (date(2026, 3, 29), 3, datetime(2026, 3, 29, 2, tzinfo=timezone.utc)),        # 04:00 CEST, after the gap
])
def test_the_end_of_a_shop_local_hour(day, hour, end):
    assert _end_of_hour(day, hour, AMS) == end
