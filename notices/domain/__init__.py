"""Notices: the outbox (written with the change), routing and delivery, content, webhooks."""
