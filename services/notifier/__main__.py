"""`python -m services.notifier`: run the notifier on its port."""

from services.notifier.app import create_app
from services.notifier.config import SERVICE
from shared.service import serve
from shared.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings, SERVICE)
