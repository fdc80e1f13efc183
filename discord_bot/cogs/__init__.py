"""One Cog per feature, each an extension loaded by the bot's ``setup_hook`` (``discord_bot.bot.EXTENSIONS``)."""
