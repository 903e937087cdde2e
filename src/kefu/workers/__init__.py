"""Background work: the scheduler that claims due timers."""
