"""Risk: pre-trade checks, the trading-state machine, the kill switch, portfolio risk."""
