SELECT DISTINCT topic FROM embeddings_queue
