"""Programs that call authgate-protected APIs: ``user`` (a person's login) and ``agent``.

Client-side code: imports only httpx, joserfc and the root modules, never the server.
"""
