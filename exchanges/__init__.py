"""Exchange accounts, encrypted credentials, the ccxt gateway and the sandbox exchange."""
