"""The embedded stack: every process of the system on this machine, no Docker needed."""
