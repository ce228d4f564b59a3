"""Deployment: the supervised local stack, the image, compose, Kubernetes, ECS, Flower, OTLP."""
