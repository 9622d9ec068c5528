from django.urls import path

from notices.web import views

app_name = "notices"

urlpatterns = [
    path("notices/", views.notice_list, name="list"),
    path("notices/preferences/", views.preferences, name="preferences"),
    path("notices/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("dev/mail/", views.dev_mail, name="dev-mail"),
    path("dev/mail/<str:name>", views.dev_mail_message, name="dev-mail-message"),
]
