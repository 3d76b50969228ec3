"""``python -m emulator`` is ``alipay-emulator``."""

from .cli import main

raise SystemExit(main())
