"""Domain-authentication checks: plain async Python over the resolver context."""
