"""`python -m services.insights`: run the insights service on its port."""

from services.insights.app import create_app
from services.insights.config import SERVICE
from shared.service import serve
from shared.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings, SERVICE)
