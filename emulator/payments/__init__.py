"""Payments: pay (three in-store scenarios), inquiryPayment, cancel."""
