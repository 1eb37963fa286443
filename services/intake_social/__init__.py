"""intake_social: Meta webhooks (Messenger, Instagram, WhatsApp Cloud) and Mastodon mentions → `intake.messages`."""
