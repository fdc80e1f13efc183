import sys

from telegram_bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
