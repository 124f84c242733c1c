"""The arena: models answer side by side, people vote, Bradley–Terry ratings rank them per category."""
