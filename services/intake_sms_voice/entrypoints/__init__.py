"""intake_sms_voice's entry points: the Twilio webhooks as FastAPI routers (messaging, voice) and their shared edge."""
