"""omni311 shared package: event catalogue and the plumbing every service reuses."""
