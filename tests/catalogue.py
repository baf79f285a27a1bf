"""The shape every mutation catalogue shares: two lists and two decorators that fill them."""


def registry():
    """(MUTANTS, CORRECT, wrong, right): wrong(function, score, fragment, mistake) registers a realistic mistake
    that must earn exactly `score` points with `fragment` in its message and exactly the mistake id(s) `mistake`
    among the check's mistakes (one id, or a tuple of ids for an entry that makes several mistakes at once);
    right(function) registers a correct alternative that must earn full marks and name no mistake."""
    mutants, correct = [], []

    def wrong(function, score, fragment, mistake):
        def register(fn):
            mutants.append((function, fn, score, fragment, (mistake,) if isinstance(mistake, str) else tuple(mistake)))
            return fn

        return register

    def right(function):
        def register(fn):
            correct.append((function, fn))
            return fn

        return register

    return mutants, correct, wrong, right
