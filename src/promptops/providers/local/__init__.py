"""Local GGUF models served in-process by llama.cpp (``xllamacpp``); needs the ``local`` extra.

``models`` (ids -> files), ``sha256_cache``, ``server`` (the in-process llama.cpp server),
``prompt`` (chat -> completion prompt) and ``provider`` (``@provider("local")``).
How it works and what was measured: ``docs/local-model.md``.
"""
