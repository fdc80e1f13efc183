import sys

from telegram_bot.app import main

if __name__ == "__main__":
    sys.exit(main())
