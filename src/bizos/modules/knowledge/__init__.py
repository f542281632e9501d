"""Knowledge base: documents, chunks, hybrid search, summaries and contracts."""
