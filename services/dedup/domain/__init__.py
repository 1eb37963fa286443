"""Pure duplicate scoring. No I/O."""
