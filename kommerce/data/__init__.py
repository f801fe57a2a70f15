"""Data access shared by services: async PostgreSQL sessions, migrations, Redis."""
