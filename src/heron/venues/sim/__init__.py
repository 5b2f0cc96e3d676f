"""The simulated venue used by backtest and paper trading."""
