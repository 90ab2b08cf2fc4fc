from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.subscription_list, name="list"),
    path("new/", views.subscription_edit, name="create"),
    path("deliveries/", views.delivery_log, name="deliveries"),
    path("<int:pk>/", views.subscription_edit, name="edit"),
    path("<int:pk>/preview/", views.subscription_preview, name="preview"),
    path("<int:pk>/send/", views.subscription_send, name="send"),
]
