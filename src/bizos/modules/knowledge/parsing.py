"""Text out of uploads: plain text, Markdown, HTML, PDF."""

from __future__ import annotations
