"""Summaries of documents (map-reduce, streamed progress) and contract extraction."""
