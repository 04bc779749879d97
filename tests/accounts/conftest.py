"""Account tests that need bots: the trading fixtures (a sandbox exchange, paper and live bots,
market events on Redis), re-used as they are."""

from tests.trading.conftest import (  # noqa: F401  (fixtures re-used by the account tests)
    _runtime_inline,
    feeder,
    live_account,
    make_bot,
    market,
    sandbox,
    sandbox_url,
)
