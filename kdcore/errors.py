"""The engine's refusal type, in a room of its own: :mod:`kdcore.settings` (below the data sets) and
:mod:`kdcore.config` (above them: its data set names are :mod:`kdcore.data.pairs`' keys) both raise it.
Callers import it from :mod:`kdcore.config`, its usual address."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting is out of range or does not fit the rest; the message names the fix."""


__all__ = ["ConfigError"]
