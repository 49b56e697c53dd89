"""``python -m course_lstm``: see course_lstm.cli."""

import sys

from course_lstm.cli import main

sys.exit(main())
