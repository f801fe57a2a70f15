"""The payment sandbox: a saga participant following the payment command contract until the
payment service (issue 9) replaces it. No money moves (see participant.py)."""
