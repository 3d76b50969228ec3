"""Signed notifications to merchants (notifyPayment, notifyRefund) from a persistent outbox."""
