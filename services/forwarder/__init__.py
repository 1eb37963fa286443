"""The forwarder: sends cases to outside Open311 GeoReport v2 endpoints and reads their statuses back."""
