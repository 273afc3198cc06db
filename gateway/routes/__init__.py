"""Ways of reaching the portal, one module each."""
