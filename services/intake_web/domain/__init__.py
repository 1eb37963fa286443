"""Pure intake rules for the web channel. No I/O."""
