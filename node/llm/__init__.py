"""The embedded local LLM backend: a llama.cpp server process on loopback (extra `local-llm`)."""
