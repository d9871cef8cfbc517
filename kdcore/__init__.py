"""kdcore: the knowledge-distillation engine behind Distillation Lab.

No Streamlit import anywhere in this package: pages call kdcore, never the reverse.
"""

__version__ = "0.1.0"

# Bump when a change alters what a finished job would produce (loss maths, data split, model
# definitions, metrics). It is part of every store key, so old results are never shown as new.
CODE_VERSION = "1"
