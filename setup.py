"""Only the compiled part of kwrec (everything else is configured in pyproject.toml).

``kwrec.core.models._mapped`` is the autocomplete hot path: binary search and decoding over memory-mapped
tables (see the header of its source for why it is C). A C compiler and the interpreter's headers are
needed to install kwrec from source; scripts/ensure-compiler.sh provides them on Debian.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("kwrec.core.models._mapped", ["src/kwrec/core/models/_mapped.c"], extra_compile_args=["-O2"]),
    ]
)
