"""The server side: the ServerApp body, the round loop, server state, reply checks, reporting."""
