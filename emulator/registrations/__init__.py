"""Merchant registration for acquirers and ISVs: registration, its review, and the payment gate."""
