"""schoolsync.sync."""
