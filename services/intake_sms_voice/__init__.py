"""SMS, MMS, WhatsApp and voice intake through Twilio webhooks; every report becomes intake.message_received."""
