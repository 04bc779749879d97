from django.urls import path

from marketdata import views

app_name = "marketdata"

urlpatterns = [
    path("markets/", views.market_list, name="market-list"),
    path("markets/arbitrage/", views.arbitrage_list, name="arbitrage-list"),
    path("markets/<str:exchange>/<str:symbol>/", views.market_detail, name="market-detail"),
    path(
        "markets/<str:exchange>/<str:symbol>/candles/",
        views.market_candles,
        name="market-candles",
    ),
]
