"""The emulated buyer's wallet: payment codes, scanning order and entry codes, confirming."""
