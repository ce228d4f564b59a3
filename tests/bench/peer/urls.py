from django.urls import path

from tests.bench.peer import views

urlpatterns = [path("pay", views.pay)]
