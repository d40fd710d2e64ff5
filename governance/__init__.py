"""governance: self-government for a community that lives on a Discourse forum.

Boundary rule: this package ``__init__`` imports nothing, so ``import governance.tally``
stays free of Flask and the database layer. The web application is built by
``governance.factory.create_app``.
"""

#: The release (CHANGELOG.md lists what each one changed); the package's metadata reads it from here.
__version__ = "0.2.0"
