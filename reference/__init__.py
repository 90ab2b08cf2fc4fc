"""Published reference figures (GPUs, CPUs, LLMs, prices, calibration rows) with their sources.

Django-free, so both the planner and telemetry apps may import it (see reference/catalog.py)."""
