"""Django-free physics shared by telemetry (the simulator) and the planner (forecasts, risk).

Plain numpy: neither app's models, and no framework. Each app may import it; it imports neither.
"""
