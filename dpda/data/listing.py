"""Reading listings line by line: protocols, keys, metadata and score files.

Every listing the project reads (ASVspoof protocols and keys, In-the-Wild's
``meta.csv``, FoR's folders, score files) is checked the same way: a bad line
is an error naming ``file:line``, and an id listed twice is an error naming
both places. These helpers are that one idiom.

Authors
 * dpda contributors 2026
"""

from dpda.labels import LABELS, NO_ATTACK


class ProtocolError(ValueError):
    """A malformed line in a protocol, metadata or score file."""


def numbered_fields(path, columns, described=None, error=ProtocolError):
    """Yield the whitespace-separated fields of each non-blank line of a file.

    Blank lines, trailing spaces and CRLF line ends are accepted.

    Arguments
    ---------
    path : str
        The listing.
    columns : sequence of str
        The expected fields, by name (their number is checked; the names
        are used in the error message and as the keys of the row).
    described : str, optional
        How the error message names the expected fields, after their number
        (default: ``fields '<columns>'``).
    error : type
        Exception raised on a line with another number of fields.

    Yields
    ------
    lineno : int
        The line number (from 1).
    where : str
        ``"<path>:<lineno>"``, for error messages.
    row : dict
        ``{column: field}``.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p.txt")
    >>> _ = open(path, "w").write("a 1\\n\\nb 2\\r\\n")
    >>> [(n, row) for n, _, row in numbered_fields(path, ("id", "score"))]
    [(1, {'id': 'a', 'score': '1'}), (3, {'id': 'b', 'score': '2'})]
    >>> next(numbered_fields(path, ("id",)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dpda.data.listing.ProtocolError: ...p.txt:1: expected 1 fields 'id', got 2: 'a 1'
    """
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            where = f"{path}:{lineno}"
            if len(fields) != len(columns):
                described = described or f"fields {' '.join(columns)!r}"
                raise error(
                    f"{where}: expected {len(columns)} {described}, "
                    f"got {len(fields)}: {line.strip()!r}"
                )
            yield lineno, where, dict(zip(columns, fields))


class FirstSeen:
    """Remember where each id was first listed; refuse a second listing.

    Arguments
    ---------
    what : str
        What the ids are, for the message (``"utterance id"``, ``"file"``).
    error : type
        Exception raised on a duplicate.

    Example
    -------
    >>> seen = FirstSeen("trial id")
    >>> seen.add("LA_E_1", "keys.txt:3", "line 3")
    >>> seen.add("LA_E_1", "keys.txt:9", "line 9")
    Traceback (most recent call last):
    ...
    dpda.data.listing.ProtocolError: keys.txt:9: duplicate trial id 'LA_E_1' (first on line 3)
    """

    def __init__(self, what="id", error=ProtocolError):
        self.what = what
        self.error = error
        self.first = {}

    def add(self, key, where, first_where):
        """Record ``key``, listed at ``where``; raise if it was listed before.

        Arguments
        ---------
        key : str
            The id.
        where : str
            The place of this listing, starting the error message.
        first_where : str
            How to name this place if ``key`` comes again (``"line 3"``,
            a path...).
        """
        if key in self.first:
            raise self.error(
                f"{where}: duplicate {self.what} {key!r} (first on {self.first[key]})"
            )
        self.first[key] = first_where


def check_label(where, label, attack, bonafide_attacks=(NO_ATTACK,)):
    """Check a label, and that the attack field agrees with it.

    Arguments
    ---------
    where : str
        ``"<path>:<lineno>"``.
    label : str
        ``bonafide`` or ``spoof``.
    attack : str
        The attack field; bona fide rows carry one of ``bonafide_attacks``.
    bonafide_attacks : tuple of str
        The attack values of bona fide rows.

    Raises
    ------
    ProtocolError
        Naming the place.

    Example
    -------
    >>> check_label("p.txt:1", "spoof", "A01")
    >>> check_label("p.txt:2", "bonafide", "A01")
    Traceback (most recent call last):
    ...
    dpda.data.listing.ProtocolError: p.txt:2: attack 'A01' does not match label 'bonafide' (bona fide rows have attack '-')
    """
    if label not in LABELS:
        raise ProtocolError(
            f"{where}: unknown label {label!r} (expected one of {LABELS})"
        )
    if (label == "bonafide") != (attack in bonafide_attacks):
        allowed = " or ".join(repr(a) for a in bonafide_attacks)
        raise ProtocolError(
            f"{where}: attack {attack!r} does not match label {label!r} "
            f"(bona fide rows have attack {allowed})"
        )
