"""Password hashing, random tokens and token digests."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import string

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

# KEFU_INSECURE_FAST_HASH=1 is for test runs only: the same argon2id with the library's cheapest
# parameters, so suites that create hundreds of accounts spend their time on behaviour rather
# than key stretching (~0.2 ms instead of ~100+ ms a hash). Never set it on a real installation.
_FAST = os.environ.get("KEFU_INSECURE_FAST_HASH") == "1"
_hasher = PasswordHasher.from_parameters(profiles.CHEAPEST) if _FAST else PasswordHasher()
# Verified against when the email is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash("kefu-dummy-password-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> str:
    """Only digests of bearer secrets are stored, so a database leak reveals no live token."""
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password(length: int = 14) -> str:
    """A password that satisfies Kefu's rules (letters and digits, no look-alikes)."""
    alphabet = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if any(c.isdigit() for c in pw) and any(c.isalpha() for c in pw):
            return pw


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
