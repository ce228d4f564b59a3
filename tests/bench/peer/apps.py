from django.apps import AppConfig


class PeerConfig(AppConfig):
    name = "tests.bench.peer"
    label = "peer"
