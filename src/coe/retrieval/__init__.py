"""Search augmentation: a local knowledge base with hybrid retrieval, cited answers, mind maps."""
