"""mobilerepro: executable replication of efficient mobile backbone papers.

The library behind the notebooks: models and the zoo (`models`), measurement (`measure`), published numbers with
provenance (`paper`), experiments (`experiments`), reporting (`report`) and the command line (`cli`).
"""

__version__ = "0.1.0"


class MobileReproError(Exception):
    """An error the user can fix; the command line prints it as one line, without a traceback."""
