"""Reconciliation files (spec §6): transaction and settlement reports, on disk and over SFTP.

schedule.py   business days, settlement dates and due times (pure)
fx.py         fixed FX quotes and conversion (pure)
formats.py    columns, file names, folder layout, amount formatting, atomic CSV writing
models.py     what has been generated (watermarks) and the report indexes
queries.py    a window's PAYMENT, REFUND and CANCEL rows as one ordered query
service.py    generation from the database, streamed; the hooks; file lookup; SFTP logins
sftp.py       the read-only SFTP server (asyncssh)
router.py     the control API under /_emulator/reconciliation
install.py    wires the service into a runtime (start-up check, due and reset hooks)
"""
