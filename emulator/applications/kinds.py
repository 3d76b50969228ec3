"""What an application can be: its roles and types (plain data, so the CLI's parser loads fast)."""

from __future__ import annotations

ROLES = ("MERCHANT", "ACQUIRER", "ISV")
APPLICATION_TYPES = ("POS terminal", "Web", "App", "Mini program")
