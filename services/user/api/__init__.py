"""HTTP routes of the user service: auth (public), me (the signed-in user), admin."""
