"""`python -m eval --corpus DIR --gold FILE --out DIR ...`: the same as `rag eval`."""
import sys

from eval.cli import main

sys.exit(main())
