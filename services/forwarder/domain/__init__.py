"""The forwarder's rules: what is sent where, what an answer means, when to try again (no I/O)."""
