"""History (§3.10): ended conversations, their detail, callback (§3.8)."""
