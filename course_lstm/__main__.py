"""``python -m course_lstm``: see course_lstm.cli.

``doctor`` runs without the rest of the package (it is the command that says what is missing);
any other command that cannot start for want of a dependency says so in one line.
"""

import sys

if sys.argv[1:] == ["doctor"]:
    from course_lstm.doctor import doctor

    sys.exit(doctor())
try:
    from course_lstm.cli import main
except ImportError as error:
    sys.exit(f"python -m course_lstm: cannot start ({error}); `python -m course_lstm doctor` says what to install")
sys.exit(main())
