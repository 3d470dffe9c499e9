"""The HTTP edge: REST and OpenAI-compatible routes over one `RAG` (see `rag.server.app`)."""
