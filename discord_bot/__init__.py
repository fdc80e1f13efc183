"""The Discord bot (discord.py 2)."""
