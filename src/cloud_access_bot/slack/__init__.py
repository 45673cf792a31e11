"""Slack adapters: app wiring, listeners, Block Kit views, directory and notifier."""
