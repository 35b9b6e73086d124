"""lidl: the Ambience interface definition language (parser, checker, generators, runtime)."""
