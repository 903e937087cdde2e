"""Blacklist (§3.9): visitors whose messages open no conversation."""
