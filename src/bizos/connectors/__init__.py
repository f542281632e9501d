"""Outside systems behind capability interfaces, configured per tenant."""
