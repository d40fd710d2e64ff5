"""governance: self-government for a community that lives on a Discourse forum.

Boundary rule: this package ``__init__`` imports nothing, so ``import governance.tally``
stays free of Flask and the database layer. The web application is built by
``governance.factory.create_app``.
"""
