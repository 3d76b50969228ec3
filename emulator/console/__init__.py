"""The sandbox console: pages over the domains, to see and steer the sandbox (issue #11)."""
