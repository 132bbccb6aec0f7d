"""Model files: fm.load and Sequential.save (not written yet)."""


def save(model, path):
    raise NotImplementedError("saving models is not implemented yet")


def load(path):
    raise NotImplementedError("loading models is not implemented yet")
