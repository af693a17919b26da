"""schoolsync.testing."""
