"""The control API under /_emulator: health, sandbox, reset, clock, journal, keys."""
