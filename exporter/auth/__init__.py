"""Request signers (one httpx.Auth per scheme) and the credential sources they read."""
