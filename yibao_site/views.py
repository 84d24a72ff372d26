from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static

from .models import Role


@login_required
def home(request):
    """Send each role to where its work is: agents to their pages, staff to the admin."""
    if request.user.role == Role.TOWNSHIP_AGENT:
        return redirect("agent:home")
    return redirect("admin:index")


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says; answer with the app's icon."""
    return redirect(static("yibao/favicon.svg"), permanent=False)
