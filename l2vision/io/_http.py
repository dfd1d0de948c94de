"""Fetch one ``http(s)://`` image, connecting only to the address that was checked.

The host is resolved once; every address it resolves to must be allowed by
the caller's policy (public addresses, unless private ones are allowed); the
connection goes to that checked address (the TLS certificate is still
verified against the host name), so a second resolution cannot send it
elsewhere (DNS rebinding). Redirects are followed by hand, each target
checked the same way, five at most. At most ``max_bytes`` are read.
Private to :mod:`l2vision.io.remote`.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

__all__ = ["UrlRefused", "address_allowed", "http_get", "resolve_host"]

MAX_REDIRECTS = 5
TIMEOUT = 30.0


class UrlRefused(ValueError):
    """A URL's host is not one the policy allows (the message says why)."""


def address_allowed(address: str, allow_private: bool) -> bool:
    """Whether an IP address may be contacted: public ones, or any with ``allow_private``.

    Examples
    --------
    >>> address_allowed("93.184.216.34", False), address_allowed("127.0.0.1", False)
    (True, False)
    >>> address_allowed("169.254.169.254", False), address_allowed("10.0.0.5", True)
    (False, True)
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if allow_private:
        return not ip.is_unspecified
    return ip.is_global and not ip.is_multicast


def resolve_host(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to for ``host``; UrlRefused if any it resolves to is refused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host!r} ({exc.strerror})") from None
    addresses = sorted({info[4][0] for info in infos})
    refused = [a for a in addresses if not address_allowed(a, allow_private)]
    if refused or not addresses:
        raise UrlRefused(f"host {host!r} resolves to {', '.join(refused or ['nothing'])}, a "
                         "loopback, private, link-local or reserved address; refused (allow "
                         "it with the allow_private_urls setting, --allow-private-urls)")
    return addresses[0]


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, with SNI and certificate checks for the host name."""

    def __init__(self, address: str, host: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to a checked address."""

    def __init__(self, address: str, host: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def http_get(url: str, max_bytes: int | None, *, allow_private: bool,
             not_found: Callable[[str], Exception]) -> bytes:
    """The body of ``url`` (at most ``max_bytes``), following checked redirects.

    Raises
    ------
    UrlRefused
        The host (or a redirect's) resolves to an address the policy refuses.
    OSError
        The server cannot be reached, answers with an error, or sends more
        than ``max_bytes``.
    """
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UrlRefused(f"a redirect to {url!r}, which is not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = resolve_host(parts.hostname, port, allow_private)
        kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
        connection = kind(address, parts.hostname, port, TIMEOUT)
        try:
            path = parts.path or "/"
            connection.request("GET", path + (f"?{parts.query}" if parts.query else ""),
                               headers={"User-Agent": "l2vision", "Accept": "image/*"})
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                url = urljoin(url, response.getheader("Location", ""))
                continue
            if response.status == 404:
                raise not_found(url)
            if response.status != 200:
                raise OSError(f"HTTP {response.status} {response.reason}")
            data = response.read(None if max_bytes is None else max_bytes + 1)
        finally:
            connection.close()
        if max_bytes is not None and len(data) > max_bytes:
            raise OSError(f"more than the limit of {max_bytes:,} bytes")
        return data
    raise OSError(f"more than {MAX_REDIRECTS} redirects")
