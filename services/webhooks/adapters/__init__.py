"""The webhooks adapters: SQL (`repository`) and the signed HTTP sender with its address checks (`sender`)."""
