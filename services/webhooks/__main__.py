"""`python -m services.webhooks`: run the webhooks service on its port."""

from services.webhooks.app import create_app
from services.webhooks.config import SERVICE
from shared.service import serve
from shared.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings, SERVICE)
