"""API schema and docs are served, with the docs' assets from our own static files."""


def test_schema_and_docs_are_served_without_any_cdn(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs"):
        assert cdn not in html


def test_base_layout_uses_vendored_assets(client, db):
    html = client.get("/").content.decode()
    assert "/static/vendor/htmx-2.0.11/htmx.min.js" in html
    assert "/static/vendor/pico-2.1.1/pico.min.css" in html
    assert "http" not in html.split("<body")[0].replace("http-equiv", "")
