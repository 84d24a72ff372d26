"""Models: owned by the assistance helper."""
