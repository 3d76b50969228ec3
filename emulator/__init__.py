"""alipay-emulator: a local, offline emulator of the Alipay global in-store payment gateway."""

__version__ = "0.1.0"
