"""The township agent's pages (乡镇经办页面), mounted at /agent/."""
from django.urls import path

from . import pages

app_name = "agent"
urlpatterns = [
    path("", pages.home, name="home"),
]
