"""Acceptance runs: in-store test cases graded from the application's own gateway calls."""
