"""Twilio HTTP specifics (public URL, signatures, TwiML), the Kafka publisher and the case API client."""
