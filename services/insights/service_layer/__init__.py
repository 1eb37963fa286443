"""The insights service layer: the event handlers that keep the projection (`handlers`), the dashboard and
open-data reads (`queries`) and the Prometheus figures (`metrics`)."""
