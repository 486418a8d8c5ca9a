"""How sure the models are, calibrated: split-conformal uncertainty regions per landmark
(``conformal``) and their calibration on a data set into a model card (``calibrate``).
The measurements' Monte-Carlo uncertainty lives with the measurements (``core.measurements``).
"""
