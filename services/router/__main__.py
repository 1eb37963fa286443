"""`python -m services.router`: run the router on its port."""

from services.router.app import create_app
from services.router.config import SERVICE
from shared.service import serve
from shared.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings, SERVICE)
