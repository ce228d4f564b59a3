"""POST /pay: save the order, hand it to Celery, answer 202."""

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from tests.bench.peer import tasks
from tests.bench.peer.models import Order


@csrf_exempt
def pay(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body or b"{}")
    order = Order.objects.create(amount=int(body.get("amount", 2000)))
    tasks.charge_user.delay(order.pk)
    return JsonResponse({"id": order.pk, "status": order.status}, status=202)
