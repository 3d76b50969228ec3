"""Refunds: refund and inquiryRefund."""
