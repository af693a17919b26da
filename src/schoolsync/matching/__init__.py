"""schoolsync.matching."""
