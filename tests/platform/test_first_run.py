"""What a new user meets first: the icon, commands the app tells them to run."""

from django.contrib.staticfiles import finders


def test_favicon_is_served_not_404(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("favicon.svg")
    assert finders.find("favicon.svg")


def test_pages_link_the_icon_and_the_reconnect_catch_up(client, db):
    html = client.get("/accounts/login/").content.decode()
    assert 'rel="icon"' in html
    assert "js/live-resync.js" in html
    assert finders.find("js/live-resync.js")
