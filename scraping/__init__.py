"""Clip-art collection: scrapers and importers of local collections."""
