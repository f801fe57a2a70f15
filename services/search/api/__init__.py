"""HTTP routes of the search service."""
