"""Planner models (scenarios, forecasts) live here."""
