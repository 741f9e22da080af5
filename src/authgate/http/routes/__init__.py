"""HTTP routes, one module per area.

The JSON API; each module is one APIRouter.
"""
