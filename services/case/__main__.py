"""`python -m services.case`: run the case service on its port."""

from services.case.app import create_app
from services.case.config import SERVICE
from shared.service import serve
from shared.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings, SERVICE)
