"""DVC pipeline stages: one module per stage, shared code in ``stages.lib``."""

import sys
from pathlib import Path

# Started as a command (`python -m stages.<stage>`, where argv[0] is "-m" while this
# package is imported, or the `summarize` script): a Ctrl-C while the libraries import,
# before the stage's main() takes over the signals, ends it quietly; nothing is written yet.
if sys.argv[:1] == ["-m"] or Path(sys.argv[0] if sys.argv else "").name == "summarize":
    from stages.lib import interrupts

    interrupts.exit_on_signal()
