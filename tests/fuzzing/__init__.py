"""A production-mode hub on loopback, for the fuzz tests and ``make audit``."""
