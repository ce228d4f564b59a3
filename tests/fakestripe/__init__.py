"""Tests of the fake Stripe server, driven over HTTP through the official stripe library."""
