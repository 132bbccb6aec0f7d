"""fastmlp's exceptions."""


class DivergenceError(FloatingPointError):
    """A fit produced a non-finite loss, gradient or weight. The model is back
    at its state from the start of that epoch; `epoch` and `batch` say where
    it happened."""

    def __init__(self, message, epoch, batch):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch


class ModelFileError(ValueError):
    """A model file is not one fastmlp wrote, or is damaged."""
