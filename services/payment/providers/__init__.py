"""Payment providers behind one interface (base.py): Stripe and PayPal."""
