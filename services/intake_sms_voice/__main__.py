"""`python -m services.intake_sms_voice`: run the Twilio webhooks on OMNI311_HTTP_PORT (default 8086)."""

from services.intake_sms_voice.app import SERVICE, create_app
from services.intake_sms_voice.config import DEFAULT_PORT
from shared.service import serve
from shared.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    settings = settings.model_copy(update={"http_port": settings.http_port or DEFAULT_PORT})
    serve(create_app(settings), settings, SERVICE)
