"""`python -m services.intake_social`: run social intake on its port (OMNI311_HTTP_PORT, default 8087)."""

from services.intake_social.app import SERVICE, create_app
from services.intake_social.config import DEFAULT_PORT
from shared.service import serve
from shared.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    if settings.http_port is None:
        settings = settings.model_copy(update={"http_port": DEFAULT_PORT})
    serve(create_app(settings), settings, SERVICE)
