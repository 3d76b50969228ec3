"""The sandbox world: applications, keys, buyers, balances, agent tokens."""
