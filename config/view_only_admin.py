"""Admin pages that show rows and never add, change or delete one."""

from typing import Any

from django.http import HttpRequest


class ViewOnlyAdmin:
    """Mixin for a ModelAdmin whose rows only the service writes (each page says why)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
