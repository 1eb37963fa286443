"""Pure rules of social intake: signatures, Meta webhook normalisation, Mastodon status text. No I/O."""
