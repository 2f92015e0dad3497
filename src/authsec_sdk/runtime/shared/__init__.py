"""State shared by every worker and replica through Redis (``Config.shared_cache_url``).

`store` holds the connection and the fallback to each process's own state; `keys` the names;
`answers` and `revocation` the introspection answers; `fleet_policy` the remote policy;
`manifest_once` the manifest; `limits` and `ratelimiter` the per-caller rate limits.
"""
