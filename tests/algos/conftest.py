"""tests/algos is importable (fake_algo), also from Ray workers started by these tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
