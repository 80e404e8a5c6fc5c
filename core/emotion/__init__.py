"""Faces to feelings: decoding frames, finding faces, the expression network, the pool, the statistics."""
