"""Stand-ins and fixtures for testing smsgate and its plugins without the outside world."""
