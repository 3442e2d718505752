"""Guidance: documents to sections, the Chroma index, search, and the embedder."""
