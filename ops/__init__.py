"""The logic behind tasks.py: one module per area (app, image, tf, k8s, monitoring, ...)."""
