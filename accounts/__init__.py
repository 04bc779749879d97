"""Users, login, two-factor authentication, API tokens and notification preferences."""
