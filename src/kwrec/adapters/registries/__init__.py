"""Container registries: credentials and manifest look-ups, one adapter module per kind (v2, ECR).

``credentials_source(settings.image)`` says how to log in to the configured registry at the moment of use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kwrec.errors import ConfigError
from kwrec.settings.image import ImageSettings


@dataclass(frozen=True)
class RegistryCredentials:
    """Login for one registry. ``repr`` never shows the password (it ends up in tracebacks and logs)."""

    server: str  # host[:port], no scheme: what the Engine's X-Registry-Auth expects
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def auth_config(self) -> dict[str, str] | None:
        """The docker SDK's ``auth_config``; the SDK builds a correct X-Registry-Auth header from it."""
        if self.username is None or self.password is None:
            return None
        return {"username": self.username, "password": self.password, "serveraddress": self.server}

    def describe(self) -> str:
        """Who we logged in as, for messages: user and registry, never the secret."""
        return f"user {self.username!r} at {self.server}" if self.username else f"anonymous at {self.server}"


def credentials_source(img: ImageSettings) -> Callable[[], RegistryCredentials]:
    """How to get the registry's credentials at the moment of use (an ECR token is fetched anew)."""
    reg = img.registry
    if reg.kind == "ecr":
        from kwrec.adapters.registries.ecr import EcrLogin  # boto3 only when ECR is configured

        login = EcrLogin(reg.ecr_region, reg.ecr_registry_id, reg.ecr_endpoint_url, reg.url)
        return login.credentials
    if not reg.url:
        raise ConfigError(
            "no registry to push to", hint="set KWREC_IMAGE__REGISTRY__URL, e.g. 127.0.0.1:5000"
        )
    password = reg.password.get_secret_value() if reg.password is not None else None
    if (reg.username is None) != (password is None):
        raise ConfigError(
            "registry username and password must be set together",
            hint="KWREC_IMAGE__REGISTRY__USERNAME and KWREC_IMAGE__REGISTRY__PASSWORD (environment only)",
        )
    creds = RegistryCredentials(server=reg.url, username=reg.username, password=password)
    return lambda: creds
