"""The notifier's I/O: SQL for its schema, SMTP, and the Twilio, Meta and Mastodon senders."""
