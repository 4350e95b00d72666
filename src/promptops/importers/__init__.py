"""Importers from other tools' formats into promptops files."""
