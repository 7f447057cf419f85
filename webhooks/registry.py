"""{platform: adapter} and each adapter's topic table: the one list manifest.json must match."""
from __future__ import annotations

from types import ModuleType

from .platforms import shopify, woocommerce

ADAPTERS: dict[str, ModuleType] = {"shopify": shopify, "woocommerce": woocommerce}


def topics(platform: str) -> list[str]:
    return sorted(ADAPTERS[platform].TOPICS)
