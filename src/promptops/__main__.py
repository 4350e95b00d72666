"""``python -m promptops``."""

from .cli import main

main()
