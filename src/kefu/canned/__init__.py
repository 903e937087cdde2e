"""Canned replies (§8.1): public and personal sets, search, usage and pins, submissions."""
