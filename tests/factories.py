"""factory_boy factories for the models tests need."""

import uuid

import factory

from payments.models import ApiClient, Payment


class ApiClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiClient

    name = factory.Sequence(lambda n: f"client-{n}")


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    client = factory.SubFactory(ApiClientFactory)
    idempotency_key = factory.LazyFunction(lambda: f"key-{uuid.uuid4()}")
    request_fingerprint = "0" * 64
    amount = 2_000
    currency = "USD"
    payment_method = "pm_card_visa"
