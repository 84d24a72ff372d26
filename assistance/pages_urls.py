"""The township agent's pages (乡镇经办页面), mounted at /agent/."""
from django.urls import path

from . import pages

app_name = "agent"
urlpatterns = [
    path("", pages.home, name="home"),
    path("persons/", pages.person_search, name="persons"),
    path("persons/<str:id_number>/", pages.person_detail, name="person"),
    path("cases/<int:pk>/", pages.case_detail, name="case"),
    path("cases/<int:pk>/upload/", pages.case_upload, name="case_upload"),
    path("cases/<int:pk>/submit/", pages.case_submit, name="case_submit"),
    path("cases/<int:pk>/resubmit/", pages.case_resubmit, name="case_resubmit"),
    path("cases/<int:pk>/verify/", pages.case_verify, name="case_verify"),
    path("cases/<int:pk>/return/", pages.case_return, name="case_return"),
    path("notices/<str:number>/", pages.notice, name="notice"),
    path("materials/<int:pk>/", pages.material, name="material"),
]
