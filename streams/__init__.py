"""Faust plumbing of Sendguard: the app, settings, topics, web views, metrics and the CLI."""
