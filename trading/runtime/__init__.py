"""The bot runtime: a leased, time-sliced loop per bot on Celery workers (queue "bots").

runner.py drives one slice; hub.py brings market events from Redis; venues.py wraps the paper
venue (tradecore's simulated exchange) and the live one (the ccxt gateway); books.py records
every order, fill and signal; db.py runs database work on a few shared threads.
"""
