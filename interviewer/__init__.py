"""interviewer: the core library of the mock-interview coach.

Importing this package is cheap: it never imports textual, torch, transformers
or openai. Heavy backends import them inside the code that needs them.
"""

__version__ = "0.1.0"
