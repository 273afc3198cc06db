"""The durable outbox: the store contract and its engines."""
