"""Pure notification rules and message composition. No I/O."""
