"""What happens when a case is routed, a send or a poll is due, or staff ask to send again."""
