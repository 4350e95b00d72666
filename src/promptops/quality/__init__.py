"""The quality loop: production calls captured as candidate cases (``capture``), human labels
given in the browser (``review``), judges calibrated against those labels (``calibrate``)."""
