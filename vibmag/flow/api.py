"""placeholder"""
def estimate_displacement(*a, **k):
    raise NotImplementedError
