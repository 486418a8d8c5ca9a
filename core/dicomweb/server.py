"""A DICOMweb server's address and credentials, and the one-line error every call raises.

The URL a user types may carry ``user:password@``: it is split off at once, so the
address that is shown, logged or recorded as an image's source (:attr:`Server.url`)
never holds a secret; the password lives only in this object (``repr`` hides it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

#: The environment variables the command line reads a password or a bearer token from (never a
#: command-line argument, which other users of the machine can see in the process list).
PASSWORD_ENV = "ANATOMARK_DICOMWEB_PASSWORD"
TOKEN_ENV = "ANATOMARK_DICOMWEB_TOKEN"


class DicomWebError(ValueError):
    """A DICOMweb call that failed; the message is one line and holds no credentials."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


@dataclass(frozen=True)
class Server:
    """``url``: the DICOMweb root (``http://host:8042/dicom-web``), without credentials; ``user`` and
    ``password`` for HTTP basic authentication, or ``token``: an OAuth bearer token (cloud archives:
    Google Cloud Healthcare, Azure Health Data Services, dcm4chee behind Keycloak)."""

    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str, user: str | None = None, password: str | None = None) -> Server:
        """A server from what a user typed; credentials in the URL are taken out of it.

        ``user``/``password`` given here win over the URL's. DicomWebError for anything that
        is not an http(s) URL with a host.
        """
        text = (url or "").strip()
        try:
            parts = urlsplit(text)
            port = parts.port  # ValueError for a port that is not a number
        except ValueError:
            raise DicomWebError(f"not a DICOMweb URL: {_shown(text)!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DicomWebError(f"not a DICOMweb URL: {_shown(text)!r} (expected http://host[:port]/path)")
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        netloc = f"{host}:{port}" if port else host
        clean = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        return cls(clean, user or (unquote(parts.username) if parts.username else None),
                   password if password is not None else (unquote(parts.password) if parts.password else None))

    def with_password_from_env(self) -> Server:
        """The same server, with the password from :data:`PASSWORD_ENV` when none was given, and the
        bearer token from :data:`TOKEN_ENV` when neither a token nor a user was given."""
        password = self.password if self.password is not None else (os.environ.get(PASSWORD_ENV) or None)
        token = self.token or (os.environ.get(TOKEN_ENV) or None if not self.user else None)
        return Server(self.url, self.user, password, token)


def _shown(text: str) -> str:
    """A URL as an error message may show it: everything up to the last ``@`` removed (a password
    may hold ``/`` or ``@``, and the scheme may be missing), so no credential can be echoed."""
    head, sep, rest = text.partition("://")
    if not sep:
        head, rest = "", text
    if "@" in rest:
        rest = rest.rsplit("@", 1)[1]
    return (head + sep + rest)[:120]
