"""OAuth 2.0 as ESPI uses it: codes, tokens and grants (Authlib does the protocol work)."""
