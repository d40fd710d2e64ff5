"""A stand-in Discourse forum: DiscourseConnect provider and JSON API, for demos and tests.

Boundary rule: independent of the platform. Nothing here imports `governance.factory`,
`governance.web`, `governance.models` or `governance.db`; the platform reaches the forum only
over HTTP, as it reaches a real Discourse.

Entry points: `app.create_forum_app`, `seed.seed_forum`, `testing.running_forum`, and the
`governance-forum` command (`cli.main`).
"""
