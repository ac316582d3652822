"""Secrets at rest: encrypted with Fernet under WEBHOOK_SECRET_KEY before they reach PostgreSQL.

The setting holds one key or several, comma-separated: the first encrypts, every one decrypts
(MultiFernet), so a key is rotated by putting a new one first and dropping the old one once
`assetflow webhooks rotate-key` has encrypted every secret again under the new one.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from shared.settings import fernet_keys


class SecretKeyMissing(Exception):
    """WEBHOOK_SECRET_KEY is not set, so no secret can be made or read."""

    def __str__(self) -> str:
        return (
            "Webhooks need WEBHOOK_SECRET_KEY: a Fernet key (the url-safe base64 of 32 bytes, "
            "as Fernet.generate_key() makes) that their signing secrets are encrypted with."
        )


class SecretUnreadable(Exception):
    """A stored secret that none of the keys decrypts (the key that made it was dropped)."""


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    @classmethod
    def of(cls, setting: SecretStr | None) -> "SecretBox | None":
        """The box for WEBHOOK_SECRET_KEY; None when it is not set."""
        return cls(fernet_keys(setting.get_secret_value())) if setting is not None else None

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(sealed)).decode()
        except InvalidToken:
            raise SecretUnreadable(
                "a webhook secret was encrypted with a key WEBHOOK_SECRET_KEY no longer holds"
            ) from None

    def reseal(self, sealed: bytes) -> bytes:
        """The same secret encrypted under the first key."""
        return self._fernet.rotate(bytes(sealed))
