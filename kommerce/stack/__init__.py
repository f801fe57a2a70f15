"""The local stack: every backing server as a native process on 127.0.0.1 (no container engine)."""
