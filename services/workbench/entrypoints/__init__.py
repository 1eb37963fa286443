"""The workbench's HTTP entry points: `pages` (every page and form), `web` (what they share: templates,
session, language, security headers)."""
