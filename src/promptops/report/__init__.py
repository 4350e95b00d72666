"""Renderers for run summaries: rich tables, Markdown, JUnit XML, JSON, HTML."""
