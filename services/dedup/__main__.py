"""`python -m services.dedup`: run the duplicate detector on its port."""

from services.dedup.app import create_app
from services.dedup.config import SERVICE
from shared.service import serve
from shared.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings, SERVICE)
