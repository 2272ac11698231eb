"""Training-free kNN source attribution: the clip set, pooled encoder embeddings (Ray actors),
the paper's experiments, the support index and ``sastnet knn`` (docs/knn.md)."""
