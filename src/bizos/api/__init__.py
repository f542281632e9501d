"""HTTP edge: app factory, gateway middleware, router assembly."""
