"""Customer center (§12): customer list and profile, base-field settings, automatic groups,
interaction records, customer-level callback, import and export."""
