"""The staff workbench: the city's web UI for working cases (queues, case page, review list, call-agent console)."""
