"""Stand-ins and fixtures for testing smsgate and its plugins without the outside world.

- :mod:`~smsgate.testing.contract`: the contract suite every vendor plugin runs on itself;
- :mod:`~smsgate.testing.pytest_plugin`: fixtures for plugin authors (loaded by pytest);
- :mod:`~smsgate.testing.harness`: the gateway, fake CleverTap and sandbox those fixtures run;
- :mod:`~smsgate.testing.fake_clevertap`: a stand-in for CleverTap's SMS callback URL;
- :mod:`~smsgate.testing.sandbox`: the parts every plugin's sandbox (fake vendor) shares;
- :mod:`~smsgate.testing.server`: a real HTTP server on a loopback port, in a thread.
"""
