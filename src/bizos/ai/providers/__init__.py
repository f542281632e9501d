"""Model providers: local (built in), OpenAI-compatible, Anthropic."""
