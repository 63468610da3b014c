"""State shared between instances: the Redis connection (``state.redis``)."""
