"""The webhooks service layer: event handlers, the admin actions and the delivery, each on a unit of work."""
