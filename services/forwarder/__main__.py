"""`python -m services.forwarder`: run the Open311 forwarder on its port."""

from services.forwarder.app import create_app
from services.forwarder.config import SERVICE
from shared.service import serve
from shared.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings, SERVICE)
