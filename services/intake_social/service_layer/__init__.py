"""Handlers of social intake: a signed Meta delivery, a Mastodon catch-up poll."""
