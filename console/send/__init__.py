"""Composing, linting and sending test messages (SMTP, Gmail API)."""
