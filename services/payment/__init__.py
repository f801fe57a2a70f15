"""The payment service: Stripe and PayPal behind one provider-neutral payment model (issue 9)."""
