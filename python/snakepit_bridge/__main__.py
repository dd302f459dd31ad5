"""`python -m snakepit_bridge ...`: run one worker (see snakepit_bridge.worker)."""
from .worker import main

if __name__ == "__main__":
    main()
