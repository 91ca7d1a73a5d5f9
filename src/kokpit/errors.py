"""The one exception type that means "the user can act on this"."""

from __future__ import annotations


class KokpitError(Exception):
    """A failure the user can act on; its message is the whole story, shown as one line by the CLI."""
