import sys

from discord_bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
