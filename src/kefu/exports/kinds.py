"""Imports every domain's `exports.py`, so each export kind is registered at start-up.

A domain that adds a kind may also import its own `exports.py` from its api module; importing
twice is harmless (a module runs once).
"""

from __future__ import annotations

import kefu.accounts.exports
import kefu.blacklist.exports  # noqa: F401
