"""``python -m dynamic_dynamodb``."""

import sys

from dynamic_dynamodb.cli import main

sys.exit(main())
