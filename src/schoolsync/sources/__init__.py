"""schoolsync.sources."""
