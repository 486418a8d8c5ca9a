"""What a person reviews and what it costs them:

- ``queue``: the review queue, which images and landmarks most need a person and why;
- ``agreement``: how far the model's latest prediction lies from the points a person placed;
- ``effort``: corrections per image, simulated on data with ground truth (``simulate-review``);
- ``session``: a review session with periodic retraining, simulated.
"""
