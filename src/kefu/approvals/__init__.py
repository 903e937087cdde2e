"""Approval management (§15.4): requests that wait for an admin's decision."""
