"""Knowledge base: documents, chunks, search, summaries and contracts."""
