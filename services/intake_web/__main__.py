"""`python -m services.intake_web`: run the Open311 API and the agent console on intake_web's port."""

from services.intake_web.app import create_app
from services.intake_web.config import SERVICE
from shared.service import serve
from shared.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings, SERVICE)
