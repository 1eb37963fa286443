"""intake_web's entry points: the Open311 GeoReport v2 routes and the call-agent console (FastAPI routers)."""
