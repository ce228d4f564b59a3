"""Payments: taking, charging and recording payments."""
