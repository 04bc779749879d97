from compliance.tax_api_urls import urlpatterns as tax_urlpatterns

urlpatterns: list = [*tax_urlpatterns]
