"""The rules of timebank. Each use case takes its actor and commits once at its end."""
