"""Mosquitto password-file hashes that stay the same on every Ansible run.

`mosquitto_passwd` salts every hash at random, so a password file it writes changes on each run and a
re-run would always report a change and reload the broker. This filter writes the same format
(`$7$<iterations>$<salt>$<hash>`, PBKDF2-SHA512, what mosquitto_passwd writes since Mosquitto 2.0)
with the salt derived from a per-deployment secret and the user name: unique per user, stable per
deployment, so the file only changes when a user is added or a password changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

ITERATIONS = 101
SALT_BYTES = 12


def mosquitto_hash(password: str, salt_key: str, username: str, iterations: int = ITERATIONS) -> str:
    """Hash `password` as a Mosquitto 2.x password-file entry (the part after `username:`)."""
    salt = hmac.new(salt_key.encode(), username.encode(), hashlib.sha512).digest()[:SALT_BYTES]
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(iterations), 64)
    salt64 = base64.b64encode(salt).decode()
    return f"$7${int(iterations)}${salt64}${base64.b64encode(digest).decode()}"


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, object]:
        return {"campusmon_mosquitto_hash": mosquitto_hash}
