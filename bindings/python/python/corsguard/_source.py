"""What every middleware accepts as its policy, what it shares, and the request target it
decides on."""

from __future__ import annotations

import os
from typing import Any, Optional, Union
from urllib.parse import quote

from ._corsguard import Policy, PolicyHandle

PolicySource = Union[str, "os.PathLike[str]", Policy, PolicyHandle]


def handle_for(config: Optional[PolicySource], profile: Optional[str]) -> PolicyHandle:
    """A handle serving ``config``: a policy file's path (read now, so that an invalid file
    fails start-up rather than the first request), a ``Policy``, or a ``PolicyHandle`` to share
    one reloadable policy between several middleware."""
    if isinstance(config, PolicyHandle):
        return config
    if isinstance(config, Policy):
        return PolicyHandle(config)
    if config is None:
        raise TypeError("corsguard needs config=: the path of a policy file, a Policy or a PolicyHandle")
    return PolicyHandle.from_file(os.fspath(config), profile)


class Served:
    """The policy half of a middleware: the application it wraps and the handle serving the
    policy, which ``policy`` reads and ``reload`` refreshes."""

    def __init__(self, app: Any, config: Optional[PolicySource] = None, profile: Optional[str] = None) -> None:
        self.app = app
        self.handle = handle_for(config, profile)

    @property
    def policy(self) -> Policy:
        """The policy serving now."""
        return self.handle.current

    def reload(self, path: Optional[str] = None) -> Policy:
        """Reads the policy file again (see ``PolicyHandle.reload``)."""
        return self.handle.reload(path)


# What a request target may hold unescaped (RFC 3986 pchar, "/" and "?"): a decoded path is
# escaped back to what the client sent, so that it parses as a request target.
_SAFE = "/!$&'()*+,;=:@-._~%"


def quoted(path: str) -> str:
    return quote(path, safe=_SAFE, encoding="latin-1", errors="surrogateescape") or "/"
