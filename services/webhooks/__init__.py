"""The webhooks service: signed outbound webhooks (Standard Webhooks) of case events to the city's other systems."""
