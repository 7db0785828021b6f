"""The HTTP host: a Starlette application serving CleverTap, vendors and operators."""
