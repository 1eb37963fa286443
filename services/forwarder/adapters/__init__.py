"""SQL on the `forwarder` schema and the Open311 HTTP client."""
