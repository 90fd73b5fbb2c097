from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("profile/", views.profile_view, name="profile"),
    path("switch-ou/", views.switch_ou_view, name="switch-ou"),
]
