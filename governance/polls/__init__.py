"""polls package."""
