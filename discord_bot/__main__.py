import sys

from discord_bot.app import main

if __name__ == "__main__":
    sys.exit(main())
