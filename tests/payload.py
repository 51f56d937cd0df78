"""A pickle payload that proves code would run: unpickling it creates a marker file."""


class Payload:
    """Unpickling this calls ``open(marker, "w")`` (a stand-in for arbitrary code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))
