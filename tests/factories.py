"""factory_boy factories for the models tests need."""

import uuid

import factory

from payments.api_keys import hash_api_key
from payments.models import ApiClient, Payment


class ApiClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiClient

    name = factory.Sequence(lambda n: f"client-{n}")
    key_prefix = "psk_test"
    key_hash = factory.LazyFunction(lambda: hash_api_key(str(uuid.uuid4())))


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    client = factory.SubFactory(ApiClientFactory)
    idempotency_key = factory.LazyFunction(lambda: f"key-{uuid.uuid4()}")
    request_fingerprint = "0" * 64
    amount = 2_000
    currency = "USD"
    payment_method = "pm_card_visa"
