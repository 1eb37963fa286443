"""Test helpers: waiting with a deadline, the shared-data root, and the running stack."""
