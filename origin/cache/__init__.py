"""Caches: exact (Redis), semantic (embeddings in Redis), and single-flight coalescing."""
