"""The web pages for astronomers (DESIGN §7)."""
