from django.urls import path

from portfolio import views

app_name = "portfolio"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("equity.json", views.equity_chart, name="equity-chart"),
    path("value.json", views.value_chart, name="value-chart"),
    path("accounts/<uuid:id>/refresh/", views.balances_refresh, name="exchange-balances-refresh"),
]
