"""Running the platform for a real community: start-up checks, health, load shedding, metrics,
logs, backups.

Boundary rule: operational plumbing only. These modules may read the database through
``governance.db`` and the models, and the web layer calls them; they hold no domain rules and
the domain services never import them (the few hooks the services need are tiny functions that
take plain values).
"""
