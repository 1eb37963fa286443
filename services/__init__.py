"""omni311 services: one folder each, never importing each other."""
