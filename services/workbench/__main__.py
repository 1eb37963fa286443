"""`python -m services.workbench`: run the staff workbench on its port (shared.settings.SERVICE_PORTS)."""

from services.workbench.app import create_app
from services.workbench.config import SERVICE
from shared.service import serve
from shared.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings, SERVICE)
