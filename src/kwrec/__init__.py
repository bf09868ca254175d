"""kwrec: search-keyword recommendations, retrained and released as a verified service every day."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kwrec")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

#: Bumped whenever the on-disk artifact layout or the training algorithm changes, so that an artifact
#: trained by older code is never reused as if it were current.
ARTIFACT_FORMAT = 4
