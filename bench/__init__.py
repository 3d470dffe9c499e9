"""Benchmark tooling: the performance benchmark (`rag bench`), its worker, corpus and report,
and the load test (`rag loadtest`)."""
