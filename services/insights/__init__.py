"""Insights: a public projection of the case lifecycle for the dashboard, Prometheus and open data."""
