"""schoolsync.bulk."""
