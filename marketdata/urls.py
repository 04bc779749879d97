app_name = "marketdata"

urlpatterns: list = []
