"""Domain types: instruments, exact values, orders, events, positions, portfolio."""
