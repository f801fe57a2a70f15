"""platform-api: the platform's own HTTP API (cluster facts now; environments, rollouts later)."""
