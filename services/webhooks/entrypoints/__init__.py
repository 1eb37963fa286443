"""The webhooks entry points: the admin API (`http`), the subscription (`kafka`) and the delivery loop (`delivery`)."""
