"""Models: owned by the procurement helper."""
