"""The native REST API (DESIGN §7), under /api/."""
