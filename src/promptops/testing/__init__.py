"""Test helpers for promptops (loopback fake OpenAI-compatible server, see :mod:`.server`)."""
