"""`python -m services.intake_email`: run the email intake adapter on the service's port
(`Settings.port_for`: OMNI311_HTTP_PORT, else `shared.settings.SERVICE_PORTS`)."""

from services.intake_email.app import create_app
from services.intake_email.config import SERVICE
from shared.service import serve
from shared.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings, SERVICE)
