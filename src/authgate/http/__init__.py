"""The HTTP layer: app factory, dependencies, middleware and error mapping.

The only package that imports FastAPI/Starlette; may import everything but ``cli``.
"""
