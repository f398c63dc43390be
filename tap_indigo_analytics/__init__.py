"""Singer tap for Indigo.ai daily Workspace analytics."""
