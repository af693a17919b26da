"""schoolsync.access."""
