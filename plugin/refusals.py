"""Refused input that a merchant reads: one base for the settings', rules' and channels' errors."""
from __future__ import annotations

from . import i18n


class Refusal(ValueError):
    """Input refused: the message (English, for logs, the CLI and API clients), and `key` and
    `values` of the text the merchant reads in the panel (`text`). A subclass names the text of
    its refusals that bring none of their own (`default_key`)."""

    default_key = ""

    def __init__(self, message: str, key: str | None = None, **values: object) -> None:
        super().__init__(message)
        self.key, self.values = key or self.default_key, values

    def text(self, language: str) -> str:
        """The refusal as the merchant reads it; a value named `setting` that is a text key (a
        setting's label in the panel) is translated too."""
        values = dict(self.values)
        if values.get("setting") in i18n.STRINGS:
            values["setting"] = i18n.t(values["setting"], language)  # type: ignore[arg-type]
        return i18n.t(self.key, language, **values)
