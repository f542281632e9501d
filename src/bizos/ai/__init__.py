"""The AI gateway: providers, fallback, metering, provenance, privacy, embeddings."""
