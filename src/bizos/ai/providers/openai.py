"""OpenAI-compatible chat, streaming and embeddings (OpenAI, Ollama, vLLM, llama.cpp)."""

from __future__ import annotations
