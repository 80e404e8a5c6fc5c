"""The movie catalogue: genres per mood, the palette index, the recommender and the importer."""
