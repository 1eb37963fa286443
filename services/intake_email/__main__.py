"""`python -m services.intake_email`: run the email intake adapter on its port."""

from services.intake_email.app import create_app
from shared.service import serve
from shared.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings, "intake_email")
