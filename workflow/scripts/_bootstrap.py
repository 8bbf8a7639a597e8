"""Put the repository's src/ on sys.path, so rule scripts import kgpex under any --sdm."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
