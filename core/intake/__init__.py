"""Intake: turning CleverTap's requests into messages ready to store."""
