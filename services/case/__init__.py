"""Case service: turns intake messages into tracked cases; applies routing and dedup decisions."""
