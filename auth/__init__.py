"""Identity and access: actors, roles, scopes (login and tokens come with their issue)."""
