"""corsguard: CORS for ASGI, WSGI and Django from a validated policy file.

The engine is corsguard's (Rust): it decides every request and writes every response's CORS
headers, so these middleware behave as ``corsguard serve`` does, case for case.
"""

from ._corsguard import Policy, PolicyError, PolicyHandle, Verdict, __version__
from .asgi import CorsMiddleware
from .wsgi import WsgiCorsMiddleware

__all__ = [
    "CorsMiddleware",
    "Policy",
    "PolicyError",
    "PolicyHandle",
    "Verdict",
    "WsgiCorsMiddleware",
    "__version__",
]
