"""Search service: a product index built from events, full-text + trigram search, facets."""
