"""Settings split by where the app runs: base (shared), local, test and production."""
