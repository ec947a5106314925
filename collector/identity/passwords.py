"""Device passwords: generated, shown once, stored as Mosquitto's PBKDF2-SHA512 (``$7$``) hash.

One hash format serves both brokers: the embedded broker verifies it here, Mosquitto 2 reads it
from the password file that ``device export-mosquitto`` writes. The passwords are 144-bit random
tokens, so the hash needs no more iterations than it has to resist a stolen database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ITERATIONS = 10_000
_SALT_BYTES = 12


def new_password() -> str:
    """A random password (24 URL-safe characters, 144 bits)."""
    return secrets.token_urlsafe(18)


def hash_password(password: str, iterations: int = ITERATIONS) -> str:
    """``$7$<iterations>$<salt>$<hash>``, the format of ``mosquitto_passwd -H sha512-pbkdf2``."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a ``$7$`` hash (False for any other or malformed hash)."""
    parts = stored.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    if not 1 <= iterations <= 10_000_000:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return hmac.compare_digest(digest, expected)
