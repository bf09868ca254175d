"""Container registries: credentials and manifest look-ups, one adapter module per kind (v2, ECR)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
