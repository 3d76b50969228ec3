"""The error of a sandbox definition that cannot be loaded (no imports: the CLI catches it)."""

from __future__ import annotations


class FixtureError(ValueError):
    """A sandbox definition that cannot be loaded; the message names file and field."""
