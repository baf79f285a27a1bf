"""The shape every mutation catalogue shares: two lists and two decorators that fill them."""


def registry():
    """(MUTANTS, CORRECT, wrong, right): wrong(function, score, fragment) registers a realistic mistake
    that must earn exactly `score` points with `fragment` in its message; right(function) registers a
    correct alternative that must earn full marks."""
    mutants, correct = [], []

    def wrong(function, score, fragment):
        def register(fn):
            mutants.append((function, fn, score, fragment))
            return fn

        return register

    def right(function):
        def register(fn):
            correct.append((function, fn))
            return fn

        return register

    return mutants, correct, wrong, right
