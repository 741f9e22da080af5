"""The HTTP layer: app factory, dependencies, middleware and error mapping."""
