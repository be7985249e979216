"""Approved-content knowledge base: ingestion, chunking, embeddings, Chroma and retrieval."""
