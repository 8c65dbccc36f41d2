"""The codec's one exception."""


class CodecError(ValueError):
    """Bad spec, bad input state or a payload that is not a valid prefix of one encoding."""
