"""Circuit breaker (D10): any 2xx answer means proceed; anything else means skip this resource."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import requests


@dataclass(frozen=True)
class BreakerResult:
    closed: bool
    detail: str  # safe to log: never contains credentials
    failed: bool = False  # no answer at all (timeout, refused): an error, not an open breaker


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """Remove user:password from a URL, returning it as basic-auth credentials."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    # In a URL, '@', ':' or '/' in a user or password are percent-encoded: decode them.
    return clean, (unquote(parts.username), unquote(parts.password or ""))


def check(
    url: str, timeout_ms: float, table: str, gsi: str | None = None, session: Any = requests
) -> BreakerResult:
    clean_url, auth = split_credentials(url)
    headers = {"x-table-name": table}
    if gsi is not None:
        headers["x-gsi-name"] = gsi
    try:
        response = session.get(clean_url, headers=headers, auth=auth, timeout=timeout_ms / 1000)
    except requests.Timeout:
        return BreakerResult(False, f"Circuit breaker: no answer within {timeout_ms:g} ms",
                             failed=True)
    except requests.RequestException as exc:
        where = clean_url.split("?", 1)[0]  # a query string may hold a token
        return BreakerResult(False, f"Circuit breaker: {type(exc).__name__} from {where}",
                             failed=True)
    if 200 <= response.status_code < 300:
        return BreakerResult(True, "Circuit breaker is closed")
    return BreakerResult(False, f"Circuit breaker returned with status code {response.status_code}")
