"""``python -m rt_avg.envs.ur5.wire``: serve a wire twin until SIGINT/SIGTERM."""

from rt_avg.envs.ur5.wire.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
