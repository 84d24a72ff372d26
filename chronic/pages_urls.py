"""The township agent's chronic-disease pages, mounted at /agent/chronic/."""
from django.urls import path

from . import pages

app_name = "chronic_agent"
urlpatterns = [
    path("", pages.home, name="home"),
    path("persons/<str:id_number>/", pages.person_detail, name="person"),
    path("cases/<int:pk>/", pages.case_detail, name="case"),
    path("cases/<int:pk>/upload/", pages.case_upload, name="case_upload"),
    path("cases/<int:pk>/submit/", pages.case_submit, name="case_submit"),
    path("cases/<int:pk>/resubmit/", pages.case_resubmit, name="case_resubmit"),
    path("notices/<str:number>/", pages.notice, name="notice"),
    path("materials/<int:pk>/", pages.material, name="material"),
]
