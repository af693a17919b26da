"""schoolsync.storage."""
