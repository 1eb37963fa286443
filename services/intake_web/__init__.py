"""Web intake: the Open311 GeoReport v2 API; every accepted request becomes intake.message_received."""
