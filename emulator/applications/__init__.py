"""The Developer Center's domain: application lifecycle, key check, go-live, ISV authorizations."""
