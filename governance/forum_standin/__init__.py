"""forum_standin package."""
