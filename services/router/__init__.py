"""router service: consumes `cases.lifecycle`, decides category, district, queue, priority and SLA, produces `routing.decisions`."""
