"""Refused input that a merchant reads: one base for the settings', rules' and channels' errors."""
from __future__ import annotations


class Refusal(ValueError):
    """Input refused: the message (English, for logs, the CLI and API clients), and `key` and
    `values` of the text the merchant reads in the panel (plugin.i18n.t; a value named `setting`
    is the key of a setting's label, translated too)."""

    def __init__(self, message: str, key: str, **values: object) -> None:
        super().__init__(message)
        self.key, self.values = key, values
