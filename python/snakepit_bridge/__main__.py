"""`python -m snakepit_bridge ...`: run one worker (see snakepit_bridge.worker), or
`python -m snakepit_bridge serve ...`: a standalone bridge server (see snakepit_bridge.serve)."""
import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        from .serve import main as serve

        serve(sys.argv[2:])
    else:
        from .worker import main

        main()
