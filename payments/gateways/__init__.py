"""Payment gateways: the Protocol, the Stripe implementation and the fake Stripe server."""
