"""The delivery outbox: the one way a result, a failure note or an expiry note reaches a chat."""
