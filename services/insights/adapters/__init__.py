"""SQL access to the `insights` schema: the repository handlers write through (`repository`) and the reads
the dashboard, the metrics and the open-data exports use (`reads`)."""
