"""Schedule pictures (PNG) for the bots."""
