from django.urls import path

from marketdata.api import views

urlpatterns = [
    path("marketdata/candles/", views.candle_list_api, name="marketdata-api-candles"),
    path("marketdata/ticker/", views.ticker_api, name="marketdata-api-ticker"),
    path("marketdata/book/", views.book_api, name="marketdata-api-book"),
]
