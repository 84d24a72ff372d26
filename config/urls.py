from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from yibao_site import api, views
from yibao_site.audit_views import audit_log

router = SimpleRouter()
router.register("regions", api.RegionViewSet, basename="region")
router.register("policy-parameters", api.PolicyParameterViewSet, basename="policy-parameter")

api_v1 = [
    path("", include(router.urls)),
    path("auth/token/", api.TokenView.as_view(), name="api-token"),
    path("", include("members.urls")),
    path("", include("chronic.urls")),
    path("", include("claims.urls")),
    path("", include("assistance.urls")),
    path("", include("assistance.early_warning.urls")),
    path("", include("procurement.urls")),
    path("", include("payments.urls")),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="home", permanent=False)),
    path("home/", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/audit/", admin.site.admin_view(audit_log), name="audit-log"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("agent/chronic/", include("chronic.pages_urls")),
    path("agent/", include("assistance.pages_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
