from django.urls import path

from portfolio.api import views

urlpatterns = [
    path("portfolio/", views.portfolio_api, name="portfolio-api-summary"),
    path("portfolio/balances/", views.balance_list_api, name="portfolio-api-balances"),
    path("portfolio/bots/<str:id>/", views.bot_portfolio_api, name="portfolio-api-bot"),
    path("portfolio/bots/<str:id>/equity/", views.bot_equity_api, name="portfolio-api-equity"),
]
