"""intake_social's entry points: the Meta webhook router, the Mastodon mention watcher, and the logs and metrics of their outcomes."""
