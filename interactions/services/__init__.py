"""Writes of interactions, one module per concern: import the one you use
(`from interactions.services import likes`)."""
