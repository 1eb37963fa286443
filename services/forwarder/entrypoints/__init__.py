"""The subscription, the background loops and the admin routes."""
