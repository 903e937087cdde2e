"""Agent presence (SPEC §2.1): idle, busy, away, invisible, offline."""
