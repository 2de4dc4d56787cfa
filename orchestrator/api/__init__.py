"""The HTTP front door: a Litestar app over the Temporal client."""
