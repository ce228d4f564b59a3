"""One order per checkout; `paid` once its charge returned."""

from django.db import models


class Order(models.Model):
    amount = models.PositiveIntegerField()
    status = models.CharField(max_length=16, default="pending")
    stripe_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True)

    class Meta:
        app_label = "peer"

    def __str__(self) -> str:
        return f"order {self.pk} ({self.status})"
