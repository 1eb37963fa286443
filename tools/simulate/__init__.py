"""Be a resident on the local stack: build, sign and send the webhooks Twilio and Meta would send (SMS,
MMS, WhatsApp, Messenger, Instagram, a phone call) and a Mastodon mention, then show the case each opened
(``python -m tools.simulate --help``; `make run` prints the commands)."""
