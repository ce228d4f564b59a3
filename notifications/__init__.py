"""Notifications: emails to customers and merchants, exactly once each."""
